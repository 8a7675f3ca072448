//! Metrics as data: what a component exposes for `/metrics`, without a metrics library.

/// How a metric behaves, in Prometheus terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up (name ends in `_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets, with sum and count.
    Histogram,
}

/// A histogram's state: cumulative bucket counts by upper bound, sum and count.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramValue {
    /// `(upper bound, observations <= bound)`, bounds ascending; `+Inf` is implied by `count`.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of all observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// One value of a metric.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricValue {
    /// A counter.
    Counter(u64),
    /// A gauge.
    Gauge(f64),
    /// A histogram.
    Histogram(HistogramValue),
}

/// One labelled value of a family.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSample {
    /// Label pairs, e.g. `[("queue", "orders")]`.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: MetricValue,
}

/// A named metric with its samples.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricFamily {
    /// Prometheus name, e.g. `plba_tasks_processed_total`.
    pub name: String,
    /// One line of help text.
    pub help: String,
    /// The kind; every sample's value has this kind.
    pub kind: MetricKind,
    /// The samples.
    pub samples: Vec<MetricSample>,
}

impl MetricFamily {
    /// An empty family.
    pub fn new(name: impl Into<String>, help: impl Into<String>, kind: MetricKind) -> Self {
        Self {
            name: name.into(),
            help: help.into(),
            kind,
            samples: Vec::new(),
        }
    }

    /// Adds a sample (builder style).
    #[must_use]
    pub fn with_sample(mut self, labels: &[(&str, &str)], value: MetricValue) -> Self {
        self.samples.push(MetricSample {
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            value,
        });
        self
    }
}

/// Something that reports metrics when scraped.
///
/// # Protocol
///
/// The runtime calls [`collect`](Self::collect) on every scrape of `/metrics`, from any
/// task; it reads counters the component already keeps and never blocks. Families with the
/// same name from several sources are merged (their label sets must differ).
pub trait MetricsSource: Send + Sync + 'static {
    /// The current values.
    fn collect(&self) -> Vec<MetricFamily>;
}
