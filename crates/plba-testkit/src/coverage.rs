//! The test kit's own check that no conformance check is defined and never run: every
//! `pub async fn` of a suite's file must be named by the runner backends invoke (a macro
//! or a `run_all`), or a new check would pass silently by never running anywhere.

use std::collections::BTreeSet;

/// A conformance suite: its file, its source, and the line its runner starts with.
struct Suite {
    file: &'static str,
    source: &'static str,
    runner: &'static str,
}

const SUITES: &[Suite] = &[
    Suite {
        file: "queue.rs",
        source: include_str!("queue.rs"),
        runner: "macro_rules! task_queue_conformance {",
    },
    Suite {
        file: "mail_backend.rs",
        source: include_str!("mail_backend.rs"),
        runner: "macro_rules! mail_backend_conformance {",
    },
    Suite {
        file: "limit.rs",
        source: include_str!("limit.rs"),
        runner: "pub async fn run_all(",
    },
    Suite {
        file: "schedule.rs",
        source: include_str!("schedule.rs"),
        runner: "pub async fn run_all(",
    },
];

/// The names of the top-level `pub async fn`s of `source`: its checks.
fn checks(source: &str) -> BTreeSet<&str> {
    source
        .lines()
        .filter_map(|line| line.strip_prefix("pub async fn "))
        .filter_map(|rest| rest.split(['(', '<']).next())
        .collect()
}

/// The identifiers the runner names: the item starting at the line `runner` begins, up to
/// its closing `}` at the start of a line, comments left out. `None` when there is none.
fn runner_names(source: &str, runner: &str) -> Option<BTreeSet<String>> {
    let mut lines = source.lines().skip_while(|line| !line.starts_with(runner));
    let first = lines.next()?;
    let body: Vec<&str> = std::iter::once(first)
        .chain(lines.take_while(|line| !line.starts_with('}')))
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect();
    Some(
        body.iter()
            .flat_map(|line| line.split(|c: char| !(c.is_alphanumeric() || c == '_')))
            .filter(|word| !word.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// The checks of `source` its runner does not name, or why the runner could not be read.
fn unrun<'a>(source: &'a str, runner: &str) -> Result<Vec<&'a str>, String> {
    let named =
        runner_names(source, runner).ok_or_else(|| format!("no line starts with {runner:?}"))?;
    let runner_name = runner
        .strip_prefix("pub async fn ")
        .and_then(|rest| rest.split('(').next());
    Ok(checks(source)
        .into_iter()
        .filter(|check| Some(*check) != runner_name && !named.contains(*check))
        .collect())
}

#[test]
fn every_check_of_every_suite_is_run_by_its_runner() {
    for suite in SUITES {
        let missing = unrun(suite.source, suite.runner)
            .unwrap_or_else(|why| panic!("{}: cannot find the runner: {why}", suite.file));
        assert!(
            missing.is_empty(),
            "{}: these checks are defined but never run; name them in the runner that starts \
             with {:?} (a helper that is not a check must not be `pub async fn`): {missing:?}",
            suite.file,
            suite.runner
        );
    }
}

#[test]
fn a_check_left_off_its_runner_is_named() {
    let source = "\
pub async fn kept(x: &dyn Factory) {}

pub async fn forgotten<F>(x: F) {}

async fn private_helper() {}

pub async fn run_all(make: impl Fn() -> Factory) {
    kept(make()).await;
    // forgotten(make()).await;
}

pub async fn after_the_runner() {}
";
    assert_eq!(
        unrun(source, "pub async fn run_all("),
        Ok(vec!["after_the_runner", "forgotten"])
    );
    assert!(unrun(source, "macro_rules! missing {").is_err());
}
