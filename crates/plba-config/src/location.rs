//! Finding the line of a key in a YAML file, for error messages.

/// The 1-based line where the dotted `path` is defined in block-style YAML `text`, if it can
/// be found by indentation. Numeric components index block lists (`- item`). Best effort:
/// flow-style collections and anchors are not followed.
pub(crate) fn line_of(text: &str, path: &str) -> Option<usize> {
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let mut depth = 0;
    let mut parent_indent: Option<usize> = None;
    // The indentation of the list being walked and how many of its items were passed.
    let mut list: Option<(usize, usize)> = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
            continue;
        }
        let mut indent = line.len() - trimmed.len();
        // YAML lets a list sit at its key's own indentation (`tokens:` then `- name: a`).
        let item_of_parent = trimmed.starts_with('-')
            && parts.get(depth).is_some_and(|p| p.parse::<usize>().is_ok());
        if let Some(parent) = parent_indent
            && (indent < parent || (indent == parent && !item_of_parent))
        {
            return None;
        }
        let mut content = trimmed;
        // One line can hold a list item and the first key inside it (`- name: ops`).
        loop {
            let part = parts.get(depth)?;
            let found = if let Ok(index) = part.parse::<usize>() {
                let Some(rest) = content
                    .strip_prefix('-')
                    .filter(|r| r.is_empty() || r.starts_with(' '))
                else {
                    break;
                };
                let (list_indent, passed) = *list.get_or_insert((indent, 0));
                if list_indent != indent {
                    break;
                }
                if passed != index {
                    list = Some((list_indent, passed + 1));
                    break;
                }
                list = None;
                let inner = rest.trim_start();
                Some((inner, indent + 1 + (rest.len() - inner.len())))
            } else {
                let plain = content
                    .strip_prefix(part)
                    .is_some_and(|rest| rest.starts_with(':'));
                let quoted = [format!("\"{part}\":"), format!("'{part}':")]
                    .iter()
                    .any(|q| content.starts_with(q.as_str()));
                ((plain || quoted) && parent_indent.is_none_or(|p| indent > p)).then_some(("", 0))
            };
            let Some((inner, inner_indent)) = found else {
                break;
            };
            depth += 1;
            if depth == parts.len() {
                return Some(number + 1);
            }
            parent_indent = Some(indent);
            if inner.is_empty() {
                break;
            }
            content = inner;
            indent = inner_indent;
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
    fn follows_list_items() {
        let yaml = "platform:\n  control:\n    tokens:\n      - name: a\n        role: admin\n      - name: b\n        token_file: /x\n        role: superuser\n";
        assert_eq!(line_of(yaml, "platform.control.tokens.0.role"), Some(5));
        assert_eq!(line_of(yaml, "platform.control.tokens.1.name"), Some(6));
        assert_eq!(line_of(yaml, "platform.control.tokens.1.role"), Some(8));
        assert_eq!(line_of(yaml, "platform.control.tokens.1"), Some(6));
        assert_eq!(line_of(yaml, "platform.control.tokens.2"), None);
        let flush = "control:\n  tokens:\n  - name: a\n    role: admin\n  - name: b\n    role: x\nother: 1\n";
        assert_eq!(line_of(flush, "control.tokens.1.role"), Some(6));
        assert_eq!(line_of(flush, "control.tokens.0.name"), Some(3));
    }

    #[test]
    fn does_not_leave_the_parent_block() {
        assert_eq!(line_of(YAML, "app.level"), None);
        assert_eq!(line_of(YAML, "missing"), None);
    }
}
