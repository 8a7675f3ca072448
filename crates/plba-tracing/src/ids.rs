//! W3C trace context without OpenTelemetry: ids, the sampling draw and the `traceparent`
//! text, for tasks that carry a trace but make no span.

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};

thread_local! {
    /// A xorshift state per thread, seeded from the OS-keyed `RandomState`.
    static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(std::thread::current().id()) | 1);
}

fn next_u64() -> u64 {
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    })
}

/// A random, valid (non-zero) trace id.
pub(crate) fn random_trace_id() -> u128 {
    (u128::from(next_u64()) << 64) | u128::from(next_u64() | 1)
}

/// A random, valid (non-zero) span id.
pub(crate) fn random_span_id() -> u64 {
    next_u64() | 1
}

/// Whether a new trace is sampled at `ratio`, decided by its id (the same trace always gets
/// the same answer).
pub(crate) fn sampled(trace_id: u128, ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 {
        return false;
    }
    // The low 53 bits (what an f64 holds exactly) as a fraction of 2^53.
    let low = u64::try_from(trace_id & ((1 << 53) - 1)).unwrap_or(0);
    (low as f64) < ratio * (1u64 << 53) as f64
}

/// `00-<trace id>-<span id>-<flags>`, written digit by digit: every task without a span
/// gets one, and the formatting machinery cost more than the rest of its tracing.
pub(crate) fn traceparent(trace_id: u128, span_id: u64, sampled: bool) -> String {
    let mut text = String::with_capacity(TRACEPARENT_LEN);
    text.push_str("00-");
    push_hex(&mut text, trace_id, 32);
    text.push('-');
    push_hex(&mut text, u128::from(span_id), 16);
    text.push_str(if sampled { "-01" } else { "-00" });
    text
}

/// The length of a version-00 `traceparent`.
const TRACEPARENT_LEN: usize = 55;

/// The low `digits` hex digits of `value`, most significant first, in lowercase.
fn push_hex(text: &mut String, value: u128, digits: u32) {
    for shift in (0..digits).rev() {
        let nibble = (value >> (shift * 4)) & 0xf;
        text.push(char::from(b"0123456789abcdef"[nibble as usize]));
    }
}

/// `field` as a number, when it is lowercase hex only.
fn lower_hex(field: &[u8]) -> Option<u128> {
    field.iter().try_fold(0_u128, |value, &byte| {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            _ => return None,
        };
        Some((value << 4) | u128::from(digit))
    })
}

/// The trace id and sampled flag of a version-00 `traceparent`; `None` when malformed
/// (exactly four fields of lowercase hex, as W3C Trace Context requires, ids not all zero).
pub(crate) fn parse_traceparent(value: &str) -> Option<(u128, bool)> {
    let bytes = value.as_bytes();
    if bytes.len() != TRACEPARENT_LEN
        || bytes.get(..3) != Some(b"00-".as_slice())
        || bytes.get(35) != Some(&b'-')
        || bytes.get(52) != Some(&b'-')
    {
        return None;
    }
    let trace_id = lower_hex(bytes.get(3..35)?).filter(|&id| id != 0)?;
    lower_hex(bytes.get(36..52)?).filter(|&id| id != 0)?;
    let flags = lower_hex(bytes.get(53..55)?)?;
    Some((trace_id, flags & 1 == 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_reads_back_as_written() {
        let trace_id = random_trace_id();
        let text = traceparent(trace_id, random_span_id(), true);
        assert_eq!(parse_traceparent(&text), Some((trace_id, true)));
        let text = traceparent(trace_id, 7, false);
        assert_eq!(parse_traceparent(&text), Some((trace_id, false)));
        assert_eq!(
            traceparent(0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331, true),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "as W3C writes it"
        );
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        for bad in [
            "",
            "00-abc-def-01",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-zz",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-+1",
            "00-+af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331_01",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-101",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-é",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            Some((0x0af7651916cd43dd8448eb211c80319c, true))
        );
    }

    #[test]
    fn the_sample_ratio_is_kept_over_many_traces() {
        let sampled = (0..10_000)
            .filter(|_| sampled(random_trace_id(), 0.25))
            .count();
        assert!((2_000..3_000).contains(&sampled), "{sampled} of 10000");
        assert!(super::sampled(random_trace_id(), 1.0));
        assert!(!super::sampled(random_trace_id(), 0.0));
    }
}
