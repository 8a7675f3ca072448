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

/// `00-<trace id>-<span id>-<flags>`, written digit by digit into a buffer: every task
/// without a span gets one, and the formatting machinery cost more than the rest of its
/// tracing.
pub(crate) fn traceparent(trace_id: u128, span_id: u64, sampled: bool) -> String {
    let mut text = vec![0_u8; TRACEPARENT_LEN];
    text[..3].copy_from_slice(b"00-");
    write_hex(&mut text[3..35], trace_id);
    text[35] = b'-';
    write_hex(&mut text[36..52], u128::from(span_id));
    text[52..].copy_from_slice(if sampled { b"-01" } else { b"-00" });
    // Only ASCII was written, so the check passes and keeps the buffer (no copy).
    String::from_utf8(text).unwrap_or_default()
}

/// The length of a version-00 `traceparent`.
const TRACEPARENT_LEN: usize = 55;

/// `value`'s low hex digits into `out`, most significant first, in lowercase.
fn write_hex(out: &mut [u8], mut value: u128) {
    for digit in out.iter_mut().rev() {
        *digit = b"0123456789abcdef"[(value & 0xf) as usize];
        value >>= 4;
    }
}

/// Each byte's value as a lowercase hex digit; 0xff for any other byte.
const HEX_DIGITS: [u8; 256] = {
    let mut table = [0xff_u8; 256];
    let mut digit: u8 = 0;
    while digit < 10 {
        table[(b'0' + digit) as usize] = digit;
        digit += 1;
    }
    let mut letter: u8 = 0;
    while letter < 6 {
        table[(b'a' + letter) as usize] = 10 + letter;
        letter += 1;
    }
    table
};

/// Up to 16 lowercase hex digits as a number; `None` for any other byte.
fn hex_u64(field: &[u8]) -> Option<u64> {
    let mut value = 0_u64;
    let mut bad = 0_u8;
    for &byte in field {
        let digit = HEX_DIGITS[usize::from(byte)];
        bad |= digit;
        value = (value << 4) | u64::from(digit & 0xf);
    }
    // A digit is at most 0x0f: any high bit set came from a byte that is not one.
    (bad & 0xf0 == 0).then_some(value)
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
    let high = hex_u64(bytes.get(3..19)?)?;
    let low = hex_u64(bytes.get(19..35)?)?;
    let trace_id = (u128::from(high) << 64) | u128::from(low);
    let span_id = hex_u64(bytes.get(36..52)?)?;
    let flags = hex_u64(bytes.get(53..55)?)?;
    (trace_id != 0 && span_id != 0).then_some((trace_id, flags & 1 == 1))
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
