//! The aggregation rule, kept apart so it can be tested as a table.

use plba_contracts::HealthState;

/// Aggregates `(state, critical)` pairs: any critical unhealthy → unhealthy; any degraded or
/// non-critical unhealthy → degraded; else ok. No contributors at all is ok.
///
/// ```
/// use plba_contracts::HealthState::*;
/// use plba_health::aggregate;
///
/// assert_eq!(aggregate([(Ok, true), (Unhealthy, false)]), Degraded);
/// assert_eq!(aggregate([(Ok, false), (Unhealthy, true)]), Unhealthy);
/// ```
pub fn aggregate(items: impl IntoIterator<Item = (HealthState, bool)>) -> HealthState {
    items
        .into_iter()
        .map(|(state, critical)| match (state, critical) {
            (HealthState::Unhealthy, false) => HealthState::Degraded,
            (state, _) => state,
        })
        .max()
        .unwrap_or(HealthState::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthState::{Degraded, Ok, Unhealthy};

    #[test]
    fn single_contributor_table() {
        let table = [
            ((Ok, true), Ok),
            ((Degraded, true), Degraded),
            ((Unhealthy, true), Unhealthy),
            ((Ok, false), Ok),
            ((Degraded, false), Degraded),
            ((Unhealthy, false), Degraded),
        ];
        for (input, expected) in table {
            assert_eq!(aggregate([input]), expected, "input {input:?}");
        }
    }

    #[test]
    fn pairs_table() {
        // Every pair of (state, critical) combinations against the rule written out longhand.
        let all = [
            (Ok, true),
            (Degraded, true),
            (Unhealthy, true),
            (Ok, false),
            (Degraded, false),
            (Unhealthy, false),
        ];
        for a in all {
            for b in all {
                let expected = if [a, b].iter().any(|&(s, c)| c && s == Unhealthy) {
                    Unhealthy
                } else if [a, b].iter().any(|&(s, _)| s != Ok) {
                    Degraded
                } else {
                    Ok
                };
                assert_eq!(aggregate([a, b]), expected, "inputs {a:?} {b:?}");
            }
        }
    }

    #[test]
    fn nothing_registered_is_ok() {
        assert_eq!(aggregate([]), Ok);
    }
}
