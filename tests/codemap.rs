//! `docs/ARCHITECTURE.md` stays a true map: every workspace crate has its heading in the
//! codemap and no heading names a crate that is gone; every cargo feature the docs name
//! (`feature \`name\``) exists in some crate.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::collections::BTreeSet;
use std::path::Path;

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap()
}

/// The workspace members, as paths relative to the root (`crates/plba-core`, `tests`).
fn members() -> BTreeSet<String> {
    let manifest = read("Cargo.toml");
    let start = manifest.find("members = [").expect("a members list");
    let list = &manifest[start..manifest[start..].find(']').unwrap() + start];
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The crates the codemap has a heading for: lines `### \`path\``.
fn codemap_headings(doc: &str) -> BTreeSet<String> {
    doc.lines()
        .filter_map(|line| line.strip_prefix("### `"))
        .filter_map(|rest| rest.strip_suffix('`'))
        .map(str::to_owned)
        .collect()
}

/// The features a text names as ``feature `name` ``.
fn features_named(text: &str) -> BTreeSet<String> {
    text.split("feature `")
        .skip(1)
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_owned()))
        .filter(|name| !name.is_empty())
        .collect()
}

/// Every feature declared in a `[features]` table of a workspace crate.
fn features_declared() -> BTreeSet<String> {
    let mut declared = BTreeSet::new();
    for member in members() {
        let manifest = read(&format!("{member}/Cargo.toml"));
        let Some(start) = manifest.find("\n[features]\n") else {
            continue;
        };
        for line in manifest[start + 12..].lines() {
            if line.starts_with('[') {
                break;
            }
            if let Some((name, _)) = line.split_once('=')
                && !line.trim_start().starts_with('#')
            {
                declared.insert(name.trim().to_owned());
            }
        }
    }
    declared
}

#[test]
fn every_crate_has_its_place_in_the_codemap_and_no_other_is_there() {
    let members = members();
    assert!(members.len() > 10, "members not found: {members:?}");
    let headings = codemap_headings(&read("docs/ARCHITECTURE.md"));
    let missing: Vec<_> = members.difference(&headings).collect();
    let stale: Vec<_> = headings.difference(&members).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/ARCHITECTURE.md's codemap (### `path` headings) lacks {missing:?} and names crates that are not members: {stale:?}"
    );
}

#[test]
fn every_feature_the_docs_name_exists() {
    let declared = features_declared();
    assert!(
        declared.contains("postgres") && declared.contains("tls"),
        "features not found: {declared:?}"
    );
    for doc in ["docs/ARCHITECTURE.md", "README.md"] {
        let unknown: Vec<_> = features_named(&read(doc))
            .into_iter()
            .filter(|f| !declared.contains(f))
            .collect();
        assert!(
            unknown.is_empty(),
            "{doc} names features no crate declares: {unknown:?}"
        );
    }
}

#[test]
fn the_checks_read_headings_and_feature_names() {
    assert_eq!(
        codemap_headings("## Codemap\n### `crates/plba-core`\ntext `x`\n### Other\n"),
        BTreeSet::from(["crates/plba-core".to_owned()])
    );
    assert_eq!(
        features_named("the feature `postgres` and feature `tls`; `x` alone"),
        BTreeSet::from(["postgres".to_owned(), "tls".to_owned()])
    );
}
