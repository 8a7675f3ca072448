//! Small helpers the bench binaries share: knobs from the environment, medians, tables.

/// `name` from the environment as a number, or `default`.
pub fn env_u64(name: &str, default: u64) -> Result<u64, std::num::ParseIntError> {
    std::env::var(name).map_or(Ok(default), |v| v.parse())
}

/// The median (upper middle for an even count); `NaN` for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// One Markdown table row: `| name | median | min | max | ratio to baseline |`.
pub fn table_row(name: &str, values: &[f64], baseline_median: f64) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    let median = median(values);
    format!(
        "| {name} | {median:.0} | {min:.0} | {max:.0} | {:.2} |",
        median / baseline_median
    )
}
