//! The architecture's dependency rules hold for the real workspace, and the checker catches
//! each kind of violation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use plba_workspace_tests::dependency_rule_violations;

/// (package name, path in the workspace, [(dependency, kind)]).
type PackageSpec<'a> = (&'a str, &'a str, &'a [(&'a str, Option<&'a str>)]);

fn cargo_metadata() -> String {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace)
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("metadata is UTF-8")
}

#[test]
fn the_workspace_keeps_the_dependency_rules() {
    let metadata = cargo_metadata();
    // Guard against a vacuous pass: the crates the rules are about must be in the metadata.
    for name in [
        "plba-contracts",
        "plba-core",
        "plba-queue-memory",
        "plba-workers",
        "plba-util",
        "plba-redis",
    ] {
        assert!(
            metadata.contains(&format!("\"name\":\"{name}\"")),
            "{name} missing from metadata"
        );
    }
    let violations = dependency_rule_violations(&metadata).unwrap();
    assert!(
        violations.is_empty(),
        "dependency rules broken:\n{}",
        violations.join("\n")
    );
}

/// Synthetic metadata: one package per (name, path, [(dep, kind)]).
fn metadata(packages: &[PackageSpec<'_>]) -> String {
    let packages: Vec<serde_json::Value> = packages
        .iter()
        .map(|(name, path, deps)| {
            serde_json::json!({
                "name": name,
                "manifest_path": format!("/ws/{path}/Cargo.toml"),
                "dependencies": deps.iter().map(|(d, kind)| serde_json::json!({"name": d, "kind": kind})).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({ "workspace_root": "/ws", "packages": packages }).to_string()
}

const BASE: &[PackageSpec<'static>] = &[
    (
        "plba-contracts",
        "crates/plba-contracts",
        &[("serde", None)],
    ),
    ("plba-core", "crates/plba-core", &[("plba-contracts", None)]),
    (
        "plba-testkit",
        "crates/plba-testkit",
        &[("plba-contracts", None)],
    ),
    (
        "plba-queue-memory",
        "crates/adapters/plba-queue-memory",
        &[
            ("plba-contracts", None),
            ("plba-testkit", Some("dev")),
            ("plba-core", Some("dev")),
        ],
    ),
    (
        "mail_order_bot",
        "apps/mail_order_bot",
        &[("plba-contracts", None), ("plba-queue-memory", None)],
    ),
    (
        "mail_order_bot_launcher",
        "apps/mail_order_bot/launcher",
        &[("plba-core", None), ("mail_order_bot", None)],
    ),
];

#[test]
fn a_clean_layout_passes_and_dev_dependencies_do_not_count() {
    assert_eq!(
        dependency_rule_violations(&metadata(BASE)).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn an_adapter_depending_on_the_runtime_is_caught() {
    let mut packages = BASE.to_vec();
    packages[3] = (
        "plba-queue-memory",
        "crates/adapters/plba-queue-memory",
        &[("plba-contracts", None), ("plba-core", None)],
    );
    let violations = dependency_rule_violations(&metadata(&packages)).unwrap();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].contains("plba-queue-memory")
            && violations[0].contains("depends on plba-core")
    );
}

#[test]
fn contracts_depending_on_another_plba_crate_is_caught() {
    let mut packages = BASE.to_vec();
    packages[0] = (
        "plba-contracts",
        "crates/plba-contracts",
        &[("plba-testkit", Some("build"))],
    );
    let violations = dependency_rule_violations(&metadata(&packages)).unwrap();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("plba-contracts may depend on no other workspace crate"));
}

#[test]
fn a_domain_library_depending_on_the_runtime_is_caught() {
    let mut packages = BASE.to_vec();
    packages[4] = (
        "mail_order_bot",
        "apps/mail_order_bot",
        &[("plba-contracts", None), ("plba-core", None)],
    );
    let violations = dependency_rule_violations(&metadata(&packages)).unwrap();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("domain library"));
}

#[test]
fn the_core_depending_on_configuration_is_caught() {
    let mut packages = BASE.to_vec();
    packages[1] = (
        "plba-core",
        "crates/plba-core",
        &[("plba-contracts", None), ("plba-config", None)],
    );
    packages.push((
        "plba-config",
        "crates/plba-config",
        &[("plba-contracts", None)],
    ));
    let violations = dependency_rule_violations(&metadata(&packages)).unwrap();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].contains("plba-core") && violations[0].contains("depends on plba-config"),
        "{violations:?}"
    );
}

#[test]
fn a_platform_crate_without_the_prefix_is_caught() {
    let mut packages = BASE.to_vec();
    packages.push(("runtime-utils", "crates/runtime-utils", &[]));
    let violations = dependency_rule_violations(&metadata(&packages)).unwrap();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("runtime-utils"));
}

#[test]
fn a_library_may_be_used_by_adapters_and_the_domain_but_may_not_use_an_adapter() {
    let mut packages = BASE.to_vec();
    packages.push((
        "plba-util",
        "crates/libs/plba-util",
        &[("plba-contracts", None)],
    ));
    packages[3] = (
        "plba-queue-memory",
        "crates/adapters/plba-queue-memory",
        &[("plba-contracts", None), ("plba-util", None)],
    );
    packages[4] = (
        "mail_order_bot",
        "apps/mail_order_bot",
        &[("plba-contracts", None), ("plba-util", None)],
    );
    assert_eq!(
        dependency_rule_violations(&metadata(&packages)).unwrap(),
        Vec::<String>::new()
    );
    packages.push((
        "plba-workers",
        "crates/libs/plba-workers",
        &[("plba-contracts", None), ("plba-queue-memory", None)],
    ));
    let violations = dependency_rule_violations(&metadata(&packages)).unwrap();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].contains("plba-workers")
            && violations[0]
                .contains("a library may depend on plba-contracts and other libraries only"),
        "{violations:?}"
    );
}
