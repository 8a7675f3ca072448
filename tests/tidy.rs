//! Tidy checks on the source tree itself: what a reviewer would otherwise have to catch.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::path::{Path, PathBuf};

/// Every `.rs` file of the workspace's own crates, tests and benches included.
fn rust_sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_sources(&path, found);
            }
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

/// Files that start with a `//!` comment, after any leading blank lines.
fn starts_with_module_doc(text: &str) -> bool {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_start().starts_with("//!"))
}

#[test]
fn every_source_file_says_what_it_holds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for top in ["crates", "apps", "tests"] {
        rust_sources(&root.join(top), &mut files);
    }
    assert!(
        files.len() > 50,
        "found only {} files: wrong root?",
        files.len()
    );
    let undocumented: Vec<String> = files
        .iter()
        .filter(|f| !starts_with_module_doc(&std::fs::read_to_string(f).unwrap()))
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        undocumented.is_empty(),
        "these files do not start with a `//!` doc saying what they hold: {undocumented:#?}"
    );
}

#[test]
fn the_check_recognises_a_missing_module_doc() {
    assert!(starts_with_module_doc("\n//! The queue.\nuse x;\n"));
    assert!(!starts_with_module_doc("use x;\n//! late\n"));
    assert!(!starts_with_module_doc(
        "/// An item doc, not a module doc.\nfn f() {}\n"
    ));
}

/// `#[error(...)]` lines that print their `source` field: the cause then shows twice in
/// `error_chain` (once in the message, once as the source).
fn messages_repeating_their_source(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("#[error(") && l.contains("{source"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn no_error_message_repeats_its_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for top in ["crates", "apps"] {
        rust_sources(&root.join(top), &mut files);
    }
    let repeating: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let shown = f.strip_prefix(&root).unwrap_or(f).display().to_string();
            messages_repeating_their_source(&std::fs::read_to_string(f).unwrap())
                .into_iter()
                .map(move |line| format!("{shown}: {line}"))
        })
        .collect();
    assert!(
        repeating.is_empty(),
        "these errors print their source in their own message; keep the cause as the source only \
         and print reports with `plba_util::error_chain`: {repeating:#?}"
    );
}

#[test]
fn the_check_recognises_a_message_that_repeats_its_source() {
    assert_eq!(
        messages_repeating_their_source("    #[error(\"cannot read {path}: {source}\")]\n").len(),
        1
    );
    assert!(messages_repeating_their_source("    #[error(\"cannot read {path}\")]\n").is_empty());
}

/// Lines that call a conformance macro's internal `@tests` arm, which runs only the checks it
/// lists: a backend doing so could leave checks out unseen.
fn internal_conformance_calls(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.contains("_conformance!(@tests") || l.contains("_conformance! (@tests"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn backends_run_whole_conformance_suites() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for top in ["crates", "apps", "tests"] {
        rust_sources(&root.join(top), &mut files);
    }
    let testkit = root.join("crates/plba-testkit");
    let this_check = root.join("tests/tidy.rs");
    let partial: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(&testkit) && **f != this_check)
        .flat_map(|f| {
            let shown = f.strip_prefix(&root).unwrap_or(f).display().to_string();
            internal_conformance_calls(&std::fs::read_to_string(f).unwrap())
                .into_iter()
                .map(move |line| format!("{shown}: {line}"))
        })
        .collect();
    assert!(
        partial.is_empty(),
        "these run part of a conformance suite through its internal `@tests` arm; invoke the macro with the factory alone: {partial:#?}"
    );
}

#[test]
fn the_check_recognises_a_partial_conformance_run() {
    assert_eq!(
        internal_conformance_calls(
            "    plba_testkit::task_queue_conformance!(@tests make; one);\n"
        )
        .len(),
        1
    );
    assert!(internal_conformance_calls("task_queue_conformance!(make);\n").is_empty());
}

/// The second application shows that an application on the kit is mostly its domain: its
/// wiring, the module and the binary's main, stays under 100 lines.
#[test]
fn invoice_reminders_wiring_stays_under_a_hundred_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let lines: usize = [
        "apps/invoice_reminders/src/module.rs",
        "apps/invoice_reminders/launcher/src/main.rs",
    ]
    .iter()
    .map(|file| {
        std::fs::read_to_string(root.join(file))
            .unwrap()
            .lines()
            .count()
    })
    .sum();
    assert!(lines < 100, "the wiring has grown to {lines} lines");
}

/// Whether a binary's `main.rs` installs the platform's allocator.
fn installs_the_platform_allocator(main: &str) -> bool {
    main.contains("plba::platform_allocator!();")
        || (main.contains("#[global_allocator]") && main.contains("plba::Allocator"))
}

/// The figures in `docs/benchmarks.md` are measured with the allocator the applications
/// ship; an application on glibc's would be a third slower on a busy queue.
#[test]
fn every_application_binary_installs_the_platform_allocator() {
    let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../apps");
    let mut launchers = 0;
    for app in std::fs::read_dir(&apps).unwrap() {
        let main = app.unwrap().path().join("launcher/src/main.rs");
        if let Ok(text) = std::fs::read_to_string(&main) {
            launchers += 1;
            assert!(
                installs_the_platform_allocator(&text),
                "{} does not install plba::Allocator",
                main.display()
            );
        }
    }
    assert!(launchers >= 2, "found {launchers} application binaries");
}

#[test]
fn the_check_recognises_a_binary_on_the_system_allocator() {
    assert!(!installs_the_platform_allocator("fn main() {}"));
    assert!(installs_the_platform_allocator(
        "plba::platform_allocator!();"
    ));
    assert!(installs_the_platform_allocator(
        "#[global_allocator]\nstatic ALLOCATOR: plba::Allocator = plba::Allocator;"
    ));
}
