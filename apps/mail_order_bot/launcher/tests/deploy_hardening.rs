//! The deployment files confine the bot: the systemd unit passes `systemd-analyze security`
//! with a low exposure and raises the file-descriptor limit, the Kubernetes manifest runs the
//! pod unprivileged on a read-only root filesystem with resource bounds and fences its
//! control plane with a NetworkPolicy, and the container image's user is the manifest's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::io::ErrorKind;
use std::process::Command;

use serde_yaml::Value;
use support::repo_file;

/// The highest `systemd-analyze security` exposure the shipped unit may have (0 = fully
/// confined, 10 = nothing confined; the unit without hardening rated 8.5).
const MAX_EXPOSURE: f64 = 2.0;

/// The uid and gid the image runs as and the manifest names.
const BOT_UID: u64 = 10001;

/// The control plane's port in the manifest: the probes', the scraper's and the policy's.
const CONTROL_PORT: u64 = 9090;

/// The score on the "Overall exposure level for UNIT: X.Y …" line of the report.
fn overall_exposure(report: &str) -> Option<f64> {
    report.lines().find_map(|line| {
        let (_, rest) = line.split_once("Overall exposure level for ")?;
        let (_, score) = rest.split_once(": ")?;
        score.split_whitespace().next()?.parse().ok()
    })
}

#[test]
fn the_exposure_is_read_from_the_report_line() {
    let report = "  NAME  DESCRIPTION  EXPOSURE\n✗ PrivateNetwork=  …  0.5\n\n\
                  → Overall exposure level for mail_order_bot.service: 1.1 OK 🙂\n";
    assert_eq!(overall_exposure(report), Some(1.1));
    assert_eq!(
        overall_exposure("Overall exposure level for x.service: 8.5 EXPOSED"),
        Some(8.5)
    );
    assert_eq!(overall_exposure("no score here"), None);
}

#[test]
fn the_systemd_unit_is_hardened() {
    let unit = repo_file("deploy/mail_order_bot.service")
        .canonicalize()
        .unwrap();
    let output = match Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit)
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "systemd-analyze is missing on CI, which installs systemd"
            );
            eprintln!("skipped: systemd-analyze is not installed (install systemd to run this)");
            return;
        }
        Err(e) => panic!("running systemd-analyze: {e}"),
    };
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "systemd-analyze failed:\n{report}");
    let exposure = overall_exposure(&report)
        .unwrap_or_else(|| panic!("no overall exposure level in the report:\n{report}"));
    assert!(
        exposure <= MAX_EXPOSURE,
        "exposure {exposure} > {MAX_EXPOSURE}; what is left open:\n{report}"
    );
}

/// The value of `key=` in the unit's `[Service]` section (the last one, as systemd reads it).
fn service_setting(unit: &str, key: &str) -> Option<String> {
    let mut in_service = false;
    let mut value = None;
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service
            && let Some(v) = line.strip_prefix(key).and_then(|r| r.strip_prefix('='))
        {
            value = Some(v.trim().to_owned());
        }
    }
    value
}

#[test]
fn the_systemd_unit_allows_enough_file_descriptors_to_survive_a_connection_flood() {
    let unit = std::fs::read_to_string(repo_file("deploy/mail_order_bot.service")).unwrap();
    let limit = service_setting(&unit, "LimitNOFILE").expect("the unit sets LimitNOFILE");
    // `soft:hard` or one number for both: the soft limit is the one the bot runs with.
    let soft: u64 = limit.split(':').next().unwrap().parse().unwrap();
    assert!(
        soft >= 65536,
        "LimitNOFILE={limit}: the default 1024 let idle connections starve the Maildir and store"
    );
    assert_eq!(
        service_setting(&unit, "UMask").as_deref(),
        Some("0077"),
        "orders and mails are readable by the service user only"
    );
}

/// The shipped manifests: one replica on SQLite, three on PostgreSQL.
const MANIFESTS: [&str; 2] = [
    "deploy/kubernetes/mail_order_bot.yaml",
    "deploy/kubernetes/mail_order_bot.scaled.yaml",
];

/// A manifest's documents, parsed.
fn manifest(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(repo_file(file)).unwrap();
    text.split("\n---\n")
        .map(|doc| serde_yaml::from_str(doc).unwrap())
        .collect()
}

/// The bot's configuration embedded in a manifest's ConfigMap.
fn embedded_config(documents: &[Value]) -> Value {
    let config = document(documents, "ConfigMap")["data"]["config.yaml"]
        .as_str()
        .unwrap();
    serde_yaml::from_str(config).unwrap()
}

fn document<'a>(documents: &'a [Value], kind: &str) -> &'a Value {
    documents
        .iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("the manifest has a {kind}"))
}

#[test]
fn the_kubernetes_pods_run_unprivileged_on_a_read_only_root_with_bounded_resources() {
    for file in MANIFESTS {
        pod_is_hardened(file);
    }
}

fn pod_is_hardened(file: &str) {
    let documents = manifest(file);
    // An SQLite store needs a writable volume; a PostgreSQL one needs none on the pod.
    let sqlite = embedded_config(&documents)["mail_order_bot"]["store"]["kind"]
        .as_str()
        .is_none_or(|kind| kind == "sqlite");
    let pod = &document(&documents, "Deployment")["spec"]["template"]["spec"];
    let pod_context = &pod["securityContext"];
    assert_eq!(pod_context["runAsNonRoot"].as_bool(), Some(true), "{pod:?}");
    assert_eq!(pod_context["runAsUser"].as_u64(), Some(BOT_UID));
    assert_eq!(pod_context["runAsGroup"].as_u64(), Some(BOT_UID));
    assert_eq!(
        pod_context["fsGroup"].as_u64(),
        Some(BOT_UID),
        "the data volume and the secrets belong to the bot's group"
    );
    assert_eq!(
        pod_context["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault")
    );

    let containers = pod["containers"].as_sequence().unwrap();
    assert!(!containers.is_empty());
    for container in containers {
        let name = container["name"].as_str().unwrap();
        let context = &container["securityContext"];
        assert_eq!(
            context["allowPrivilegeEscalation"].as_bool(),
            Some(false),
            "{name}"
        );
        assert_eq!(
            context["readOnlyRootFilesystem"].as_bool(),
            Some(true),
            "{name}"
        );
        let dropped: Vec<&str> = context["capabilities"]["drop"]
            .as_sequence()
            .map(|s| s.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert!(dropped.contains(&"ALL"), "{name} drops every capability");
        assert!(
            context["capabilities"]["add"].is_null(),
            "{name} adds no capability"
        );
        assert_ne!(context["privileged"].as_bool(), Some(true), "{name}");
        assert_ne!(context["runAsNonRoot"].as_bool(), Some(false), "{name}");

        for bound in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                let value = &container["resources"][bound][resource];
                assert!(
                    value.is_string() || value.is_number(),
                    "{name} has resources.{bound}.{resource}"
                );
            }
        }

        if !sqlite {
            continue;
        }
        // The root filesystem is read-only: the order store needs a writable volume.
        let data = container["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"].as_str() == Some("/var/lib/mail_order_bot"))
            .unwrap_or_else(|| panic!("{name} mounts a volume at /var/lib/mail_order_bot"));
        assert_ne!(
            data["readOnly"].as_bool(),
            Some(true),
            "{name}: data writable"
        );
        let volume = pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"] == data["name"])
            .expect("the data volume is declared");
        assert!(
            volume["configMap"].is_null() && volume["secret"].is_null(),
            "the data volume is writable storage: {volume:?}"
        );
    }
}

#[test]
fn the_container_image_runs_as_the_manifests_user() {
    let containerfile = std::fs::read_to_string(repo_file("deploy/Containerfile")).unwrap();
    let user = containerfile
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("the runtime stage sets USER");
    let (uid, gid) = user.trim().split_once(':').unwrap_or((user.trim(), ""));
    assert_eq!(
        uid.parse::<u64>().ok(),
        Some(BOT_UID),
        "USER {user}: numeric"
    );
    if !gid.is_empty() {
        assert_eq!(gid.parse::<u64>().ok(), Some(BOT_UID), "USER {user}");
    }
    assert!(
        containerfile.contains(&format!("--uid {BOT_UID}")),
        "the image creates its user with uid {BOT_UID}"
    );
}

#[test]
fn only_the_scraper_reaches_the_kubernetes_control_plane() {
    for file in MANIFESTS {
        control_plane_is_closed(file);
    }
}

fn control_plane_is_closed(file: &str) {
    let documents = manifest(file);
    let config = embedded_config(&documents);
    let bind = config["platform"]["control"]["bind"].as_str().unwrap();
    assert_eq!(
        bind,
        format!("0.0.0.0:{CONTROL_PORT}"),
        "the probes reach the pod's address"
    );

    let deployment = document(&documents, "Deployment");
    let template = &deployment["spec"]["template"];
    let annotations = &template["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"].as_str(), Some("true"));
    assert_eq!(
        annotations["prometheus.io/port"].as_str(),
        Some(CONTROL_PORT.to_string().as_str())
    );
    let container = &template["spec"]["containers"][0];
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/health/live")
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/health/ready")
    );

    let policy = document(&documents, "NetworkPolicy");
    let spec = &policy["spec"];
    assert_eq!(
        spec["podSelector"]["matchLabels"], template["metadata"]["labels"],
        "the policy selects the bot's pods"
    );
    let types: Vec<&str> = spec["policyTypes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(types.contains(&"Ingress"), "{types:?}");
    let rules = spec["ingress"].as_sequence().unwrap();
    assert!(!rules.is_empty());
    for rule in rules {
        let from = rule["from"].as_sequence();
        assert!(
            from.is_some_and(|f| !f.is_empty()),
            "every rule names who may connect, none admits everyone: {rule:?}"
        );
        let ports: Vec<u64> = rule["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|p| p["port"].as_u64())
            .collect();
        assert_eq!(ports, [CONTROL_PORT], "{rule:?}");
    }
}
