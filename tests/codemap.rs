//! `docs/ARCHITECTURE.md` stays a true map: every workspace crate has its heading in the
//! codemap and no heading names a crate that is gone; every cargo feature the docs name
//! (in the map, the README and the crates' own docs) exists in some crate.

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

/// The features a text names: ``feature `name` ``, ``the `name` feature``, and the list
/// of a `--features a,b` command line.
fn features_named(text: &str) -> BTreeSet<String> {
    let mut named: BTreeSet<String> = text
        .split("feature `")
        .skip(1)
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_owned()))
        .collect();
    named.extend(text.split("` feature").filter_map(|before| {
        let (_, name) = before.rsplit_once('`')?;
        Some(name.to_owned())
    }));
    for rest in text.split("--features ").skip(1) {
        let list = rest
            .split(|c: char| c.is_whitespace() || c == '`' || c == ':')
            .next()
            .unwrap_or_default();
        named.extend(
            list.split(',')
                .map(|name| name.trim_matches('"').to_owned()),
        );
    }
    named.retain(|name| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    });
    named
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
    let mut docs = vec!["docs/ARCHITECTURE.md".to_owned(), "README.md".to_owned()];
    docs.extend(
        members()
            .into_iter()
            .map(|member| format!("{member}/src/lib.rs"))
            .filter(|lib| root().join(lib).is_file()),
    );
    for doc in &docs {
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
        features_named(
            "the feature `postgres`, the `tls` feature; `x` alone; `cargo build --features maildir,sqlite`"
        ),
        BTreeSet::from(["maildir", "postgres", "sqlite", "tls"].map(str::to_owned))
    );
}
