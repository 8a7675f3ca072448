//! Text from outside (a mail's sender, Message-ID, file names) made safe to print on a
//! terminal or in a text log: its control characters are written as escapes, so it cannot
//! move the cursor, set a window title, write the clipboard or forge a log line.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as it is: the C0 and C1 controls (ESC, BEL, CR, …)
/// and the bidirectional overrides, which reorder what a reader sees.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every character a terminal would act on written as its escape (ESC as
/// `\u{1b}`, a line break as `\n`); other text, any script included, is left as it is.
///
/// ```
/// use plba_util::printable;
///
/// assert_eq!(printable("<1@x>"), "<1@x>");
/// assert_eq!(printable("a\u{1b}]0;owned\u{7}b"), "a\\u{1b}]0;owned\\u{7}b");
/// ```
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_overrides_are_escaped_and_the_rest_kept() {
        assert_eq!(printable("Grüße, 注文"), "Grüße, 注文");
        assert_eq!(printable("x\u{1b}[2Jy"), "x\\u{1b}[2Jy");
        assert_eq!(printable("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(printable("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(printable("abc\u{202e}txt.exe"), "abc\\u{202e}txt.exe");
    }
}
