//! Finding the line of a key in a YAML file, for error messages.

/// The 1-based line where the dotted `path` is defined in block-style YAML `text`, if it can
/// be found by indentation. Best effort: flow-style mappings and anchors are not followed.
pub(crate) fn line_of(text: &str, path: &str) -> Option<usize> {
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let mut depth = 0;
    let mut parent_indent: Option<usize> = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if let Some(parent) = parent_indent
            && indent <= parent
        {
            return None;
        }
        let part = parts.get(depth)?;
        let plain = trimmed
            .strip_prefix(part)
            .is_some_and(|rest| rest.starts_with(':'));
        let quoted = [format!("\"{part}\":"), format!("'{part}':")]
            .iter()
            .any(|q| trimmed.starts_with(q.as_str()));
        if (plain || quoted) && parent_indent.is_none_or(|p| indent > p) {
            depth += 1;
            if depth == parts.len() {
                return Some(number + 1);
            }
            parent_indent = Some(indent);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::line_of;

    const YAML: &str = "\
# comment
platform:
  stop_timeout_ms: 5
app:
  limits:
    max_lines: 10
  name: x
log:
  level: info
";

    #[test]
    fn finds_nested_keys() {
        assert_eq!(line_of(YAML, "platform.stop_timeout_ms"), Some(3));
        assert_eq!(line_of(YAML, "app.limits.max_lines"), Some(6));
        assert_eq!(line_of(YAML, "app.name"), Some(7));
        assert_eq!(line_of(YAML, "log"), Some(8));
    }

    #[test]
    fn does_not_leave_the_parent_block() {
        assert_eq!(line_of(YAML, "app.level"), None);
        assert_eq!(line_of(YAML, "missing"), None);
    }
}
