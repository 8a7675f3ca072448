//! Workspace-level checks shared by the tests in this folder.
//!
//! [`dependency_rule_violations`] reads `cargo metadata` output and reports every broken
//! dependency rule of the architecture (see `docs/ARCHITECTURE.md`):
//!
//! 1. `plba-contracts` depends on no other workspace crate.
//! 2. A library (`crates/libs/*`: helpers, workers, the mail source) depends on
//!    `plba-contracts` and other libraries only.
//! 3. An adapter (`crates/adapters/*`) depends on `plba-contracts`, libraries and other
//!    adapters only: never on the runtime (`plba-core`, `plba`) or another platform crate.
//! 4. A domain library (`apps/*`, launchers excepted) depends on `plba-contracts`, libraries
//!    and adapters only, so it compiles without the runtime.
//! 5. Crates under `crates/` are named `plba-*` (or `plba`).
//! 6. `plba-core` (the lifecycle core) depends on `plba-contracts`, `plba-health` and
//!    `plba-util` only: configuration and telemetry are wired by the `plba` facade, not by
//!    the core.
//!
//! Only normal and build dependencies count: tests may use anything.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Deserialize)]
struct Metadata {
    workspace_root: String,
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    manifest_path: String,
    dependencies: Vec<Dependency>,
}

#[derive(Deserialize)]
struct Dependency {
    name: String,
    kind: Option<String>,
}

/// Where a crate sits in the architecture, decided by its path in the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layer {
    Contracts,
    Core,
    Library,
    Adapter,
    Domain,
    Launcher,
    Platform,
    Other,
}

fn layer(name: &str, relative_path: &str) -> Layer {
    if name == "plba-contracts" {
        Layer::Contracts
    } else if name == "plba-core" {
        Layer::Core
    } else if relative_path.starts_with("crates/libs/") {
        Layer::Library
    } else if relative_path.starts_with("crates/adapters/") {
        Layer::Adapter
    } else if relative_path.starts_with("apps/") {
        if relative_path.contains("/launcher/") {
            Layer::Launcher
        } else {
            Layer::Domain
        }
    } else if relative_path.starts_with("crates/") {
        Layer::Platform
    } else {
        Layer::Other
    }
}

/// Every broken rule in `cargo metadata --format-version 1 --no-deps` output, as sentences.
pub fn dependency_rule_violations(metadata_json: &str) -> Result<Vec<String>, serde_json::Error> {
    let metadata: Metadata = serde_json::from_str(metadata_json)?;
    let root = metadata.workspace_root.trim_end_matches('/').to_owned() + "/";
    let layers: BTreeMap<&str, (Layer, String)> = metadata
        .packages
        .iter()
        .map(|p| {
            let relative = p
                .manifest_path
                .strip_prefix(&root)
                .unwrap_or(&p.manifest_path);
            (
                p.name.as_str(),
                (layer(&p.name, relative), relative.to_owned()),
            )
        })
        .collect();
    let mut violations = Vec::new();
    for package in &metadata.packages {
        let (own_layer, path) = &layers[package.name.as_str()];
        if matches!(
            own_layer,
            Layer::Platform | Layer::Core | Layer::Library | Layer::Adapter
        ) && !package.name.starts_with("plba")
        {
            violations.push(format!(
                "{} ({path}) is a platform crate whose name does not start with `plba-`",
                package.name
            ));
        }
        let internal = package
            .dependencies
            .iter()
            .filter(|d| d.kind.as_deref() != Some("dev"))
            .filter_map(|d| {
                layers
                    .get(d.name.as_str())
                    .map(|(l, _)| (d.name.as_str(), *l))
            });
        for (dep, dep_layer) in internal {
            let allowed = match own_layer {
                Layer::Contracts => false,
                Layer::Core => matches!(dep, "plba-contracts" | "plba-health" | "plba-util"),
                Layer::Library => matches!(dep_layer, Layer::Contracts | Layer::Library),
                Layer::Adapter | Layer::Domain => matches!(
                    dep_layer,
                    Layer::Contracts | Layer::Library | Layer::Adapter
                ),
                Layer::Launcher | Layer::Platform | Layer::Other => true,
            };
            if !allowed {
                let rule = match own_layer {
                    Layer::Contracts => "plba-contracts may depend on no other workspace crate",
                    Layer::Core => {
                        "plba-core may depend on plba-contracts, plba-health and plba-util only (configuration and telemetry belong to the facade)"
                    }
                    Layer::Library => {
                        "a library may depend on plba-contracts and other libraries only"
                    }
                    Layer::Adapter => {
                        "adapters may depend on plba-contracts, libraries and other adapters only"
                    }
                    _ => {
                        "a domain library may depend on plba-contracts, libraries and adapters only"
                    }
                };
                violations.push(format!(
                    "{} ({path}) depends on {dep}: {rule}",
                    package.name
                ));
            }
        }
    }
    Ok(violations)
}
