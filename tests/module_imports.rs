//! No two modules of a crate import each other (`use crate::a` in `b`, `use crate::b` in
//! `a`): such a pair is one module cut in two, and it grows into a knot. A module and its
//! own descendants are exempt: a child is part of its parent (it reads the parent's private
//! items through `super::`, and the parent re-exports what the child offers).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The module path of `file` under `src` (`a/b.rs` and `a/b/mod.rs` are `a::b`; `lib.rs`
/// and `main.rs` are the root, ``).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The code of a file without comments and without its `#[cfg(test)]` modules (a test
/// module inside a file is not the file's module; other `#[cfg(test)]` items are kept).
fn code(text: &str) -> String {
    let text: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut kept = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        kept.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let item = after.trim_start();
        let Some(body) = item
            .strip_prefix("mod ")
            .and_then(|m| m.find('{').map(|open| &m[open..]))
        else {
            rest = after;
            continue;
        };
        // Skip the module's block, braces matched.
        let mut depth = 0_usize;
        let mut end = body.len();
        for (i, c) in body.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &body[end..];
    }
    kept.push_str(rest);
    kept
}

/// The paths a file names through `crate::` or `super::` (groups `{a, b::c}` expanded one
/// level), resolved to absolute module paths.
fn referenced_paths(module: &str, code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let own: Vec<&str> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").collect()
    };
    for (index, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        if index > 0 {
            let before = code.as_bytes()[index - 1];
            // `$crate::`, `super::super::` (counted from its first `super::`), `a::super`.
            if before == b'$' || before == b':' || before.is_ascii_alphanumeric() || before == b'_'
            {
                continue;
            }
        }
        let mut rest = &code[index..];
        let mut base: Vec<&str> = if rest.starts_with("crate::") {
            rest = &rest["crate::".len()..];
            Vec::new()
        } else {
            let mut base = own.clone();
            while let Some(after) = rest.strip_prefix("super::") {
                base.pop();
                rest = after;
            }
            base
        };
        let items: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end].split(',').map(str::trim).collect()
        } else {
            vec![rest]
        };
        for item in items {
            let segments: Vec<&str> = item
                .split("::")
                .map(|s| {
                    s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or_default()
                })
                .take_while(|s| !s.is_empty())
                .collect();
            let mut path = base.clone();
            path.extend(segments);
            paths.push(path.join("::"));
        }
        base.clear();
    }
    paths
}

/// The known module `path` falls in: its longest prefix that is a module.
fn resolve<'a>(path: &str, modules: &'a BTreeSet<String>) -> Option<&'a String> {
    let segments: Vec<&str> = path.split("::").collect();
    (1..=segments.len())
        .rev()
        .map(|n| segments[..n].join("::"))
        .find_map(|prefix| modules.get(&prefix))
}

fn is_ancestor(ancestor: &str, of: &str) -> bool {
    ancestor.is_empty() || of.starts_with(&format!("{ancestor}::"))
}

/// Pairs of modules of the crate under `src` that import each other, neither an ancestor of
/// the other.
fn mutual_imports(src: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let sources: BTreeMap<String, String> = files
        .iter()
        .map(|f| {
            (
                module_of(src, f),
                code(&std::fs::read_to_string(f).unwrap()),
            )
        })
        .collect();
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    let mut edges: BTreeSet<(String, String)> = BTreeSet::new();
    for (module, code) in &sources {
        for path in referenced_paths(module, code) {
            if let Some(target) = resolve(&path, &modules)
                && target != module
            {
                edges.insert((module.clone(), target.clone()));
            }
        }
    }
    edges
        .iter()
        .filter(|(a, b)| a < b && edges.contains(&(b.clone(), a.clone())))
        .filter(|(a, b)| !is_ancestor(a, b) && !is_ancestor(b, a))
        .cloned()
        .collect()
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let start = manifest.find("members = [").unwrap();
    let list = &manifest[start..manifest[start..].find(']').unwrap() + start];
    let mut knots = Vec::new();
    let mut crates = 0;
    for member in list.split('"').skip(1).step_by(2) {
        let src = root.join(member).join("src");
        if src.is_dir() {
            crates += 1;
            for (a, b) in mutual_imports(&src) {
                knots.push(format!("{member}: {a} <-> {b}"));
            }
        }
    }
    assert!(crates > 10, "only {crates} crates found");
    assert!(
        knots.is_empty(),
        "these modules import each other; move what both need into one of them or a third: {knots:#?}"
    );
}

#[test]
fn the_check_finds_siblings_that_import_each_other_but_not_a_parent_and_child() {
    let dir = tempfile_dir();
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("store")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\nmod store;\n").unwrap();
    std::fs::write(src.join("a.rs"), "use crate::b::Thing;\n").unwrap();
    std::fs::write(src.join("b.rs"), "use crate::{a::Other, store};\n").unwrap();
    std::fs::write(
        src.join("store/mod.rs"),
        "mod sql;\nuse sql::Reads;\npub use crate::a::X;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("store/sql.rs"),
        "use super::Store; // a child reads its parent\n#[cfg(test)]\nmod tests { use crate::b::Y; }\n",
    )
    .unwrap();
    assert_eq!(mutual_imports(&src), vec![("a".to_owned(), "b".to_owned())]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A fresh directory for the check's own test.
fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "plba-module-imports-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
