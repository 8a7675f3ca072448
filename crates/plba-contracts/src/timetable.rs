//! The occurrences of a [`Cadence`]: when a schedule fires, computed the same way by every
//! instance so that they agree on what "this occurrence" is. Here in the contracts so that a
//! module can check a cadence from its configuration (`check-config`) with the very parser
//! the runtime uses.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::schedule::Cadence;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// A parsed [`Cadence`]: answers when its occurrences are.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use plba_contracts::{Cadence, Timetable};
///
/// let every_ten = Timetable::parse(&Cadence::Every(Duration::from_secs(10))).unwrap();
/// let at = UNIX_EPOCH + Duration::from_millis(1_234);
/// assert_eq!(every_ten.next_after(at), Some(UNIX_EPOCH + Duration::from_secs(10)));
/// ```
#[derive(Clone, Debug)]
pub struct Timetable(Kind);

#[derive(Clone, Debug)]
enum Kind {
    Cron {
        cron: Box<Cron>,
        zone: Tz,
    },
    /// The period in whole milliseconds (occurrences are multiples of it since the epoch).
    Every(u64),
}

impl Timetable {
    /// Parses `cadence`; the error says what is wrong with it (the expression, the time
    /// zone, an expression that never matches, a zero period).
    pub fn parse(cadence: &Cadence) -> Result<Self, String> {
        match cadence {
            Cadence::Cron {
                expression,
                time_zone,
            } => {
                let cron = CronParser::builder()
                    .seconds(Seconds::Optional)
                    .build()
                    .parse(expression)
                    .map_err(|error| format!("cron expression {expression:?}: {error}"))?;
                let zone = Tz::from_str(time_zone).map_err(|_| {
                    format!(
                        "unknown time zone {time_zone:?} (an IANA name such as \"UTC\" or \"Europe/Berlin\")"
                    )
                })?;
                // An expression that never matches (30 February) would leave the schedule
                // silently idle: refuse it now.
                let now = DateTime::<Utc>::from(SystemTime::now()).with_timezone(&zone);
                cron.find_next_occurrence(&now, false).map_err(|error| {
                    format!("cron expression {expression:?} has no next occurrence: {error}")
                })?;
                Ok(Self(Kind::Cron {
                    cron: Box::new(cron),
                    zone,
                }))
            }
            Cadence::Every(period) => {
                let millis = u64::try_from(period.as_millis()).unwrap_or(u64::MAX);
                if millis == 0 {
                    return Err("a period must be at least one millisecond".to_owned());
                }
                Ok(Self(Kind::Every(millis)))
            }
        }
    }

    /// The first occurrence strictly after `after`.
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        match &self.0 {
            Kind::Cron { cron, zone } => {
                let start = DateTime::<Utc>::from(after).with_timezone(zone);
                let next = cron.find_next_occurrence(&start, false).ok()?;
                Some(SystemTime::from(next.with_timezone(&Utc)))
            }
            Kind::Every(period) => {
                let at = millis_since_epoch(after);
                let next = (at / period).checked_add(1)?.checked_mul(*period)?;
                Some(UNIX_EPOCH + Duration::from_millis(next))
            }
        }
    }

    /// The latest occurrence at or before `at`.
    pub fn latest_until(&self, at: SystemTime) -> Option<SystemTime> {
        match &self.0 {
            Kind::Cron { cron, zone } => {
                let start = DateTime::<Utc>::from(at).with_timezone(zone);
                let previous = cron.find_previous_occurrence(&start, true).ok()?;
                Some(SystemTime::from(previous.with_timezone(&Utc)))
            }
            Kind::Every(period) => {
                let at = millis_since_epoch(at);
                Some(UNIX_EPOCH + Duration::from_millis(at / period * period))
            }
        }
    }
}

fn millis_since_epoch(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc3339(at: SystemTime) -> String {
        DateTime::<Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    fn at(text: &str) -> SystemTime {
        SystemTime::from(DateTime::parse_from_rfc3339(text).unwrap())
    }

    fn cron(expression: &str, zone: &str) -> Timetable {
        Timetable::parse(&Cadence::Cron {
            expression: expression.to_owned(),
            time_zone: zone.to_owned(),
        })
        .unwrap()
    }

    #[test]
    fn a_nightly_cron_fires_at_local_midnight_across_a_dst_change() {
        let nightly = cron("0 0 0 * * *", "Europe/Berlin");
        // Before the switch to summer time, Berlin midnight is 23:00 UTC; after it, 22:00.
        let next = nightly.next_after(at("2026-03-28T12:00:00Z")).unwrap();
        assert_eq!(rfc3339(next), "2026-03-28T23:00:00.000Z");
        let after = nightly.next_after(next).unwrap();
        assert_eq!(rfc3339(after), "2026-03-29T22:00:00.000Z");
        assert_eq!(nightly.latest_until(after), Some(after));
        assert_eq!(
            nightly.latest_until(after - Duration::from_millis(1)),
            Some(next)
        );
    }

    #[test]
    fn five_fields_mean_minutes_and_seconds_are_optional() {
        let hourly = cron("30 * * * *", "UTC");
        let next = hourly.next_after(at("2026-11-30T10:31:00.500Z")).unwrap();
        assert_eq!(rfc3339(next), "2026-11-30T11:30:00.000Z");
        let every_two_seconds = cron("*/2 * * * * *", "UTC");
        let next = every_two_seconds
            .next_after(at("2026-11-30T10:31:00.500Z"))
            .unwrap();
        assert_eq!(rfc3339(next), "2026-11-30T10:31:02.000Z");
    }

    #[test]
    fn periods_are_aligned_to_the_epoch_so_instances_agree() {
        let every = Timetable::parse(&Cadence::Every(Duration::from_secs(10))).unwrap();
        let next = every.next_after(at("2026-11-30T10:31:07.250Z")).unwrap();
        assert_eq!(rfc3339(next), "2026-11-30T10:31:10.000Z");
        assert_eq!(
            every.next_after(next).map(rfc3339).unwrap(),
            "2026-11-30T10:31:20.000Z"
        );
        assert_eq!(every.latest_until(next), Some(next));
    }

    #[test]
    fn bad_cadences_say_what_is_wrong() {
        let bad = |expression: &str, zone: &str| {
            Timetable::parse(&Cadence::Cron {
                expression: expression.to_owned(),
                time_zone: zone.to_owned(),
            })
            .unwrap_err()
        };
        assert!(bad("61 * * * *", "UTC").contains("61 * * * *"));
        assert!(bad("0 0 * * *", "Mars/Olympus").contains("unknown time zone"));
        assert!(bad("0 0 30 2 *", "UTC").contains("no next occurrence"));
        assert!(
            Timetable::parse(&Cadence::Every(Duration::ZERO))
                .unwrap_err()
                .contains("at least one millisecond")
        );
    }
}
