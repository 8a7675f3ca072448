//! What the listener counts: requests received, accepted, duplicate and refused by reason,
//! per route (requests to no route count under `route=""`).

use std::sync::atomic::{AtomicU64, Ordering};

use plba_contracts::{MetricFamily, MetricKind, MetricValue, MetricsSource};

/// Why a request was refused; the `reason` label of the refusal counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No route has the path (404).
    NotFound,
    /// Not a `POST` (405).
    Method,
    /// Missing or wrong signature or token (401).
    Unauthorized,
    /// The body is over the limit (413).
    TooLarge,
    /// Not `application/json` (415).
    MediaType,
    /// The body is not JSON, or the idempotency field is missing (400).
    BadRequest,
    /// The application's check refused the payload (422).
    Invalid,
    /// The body did not arrive within the body timeout (408).
    Timeout,
    /// The queue is full (429).
    QueueFull,
    /// The application is not running or the queue cannot be reached (503).
    Unavailable,
    /// Every connection slot is taken (503, then the connection is closed).
    Overloaded,
}

impl Refusal {
    const ALL: [Self; 11] = [
        Self::NotFound,
        Self::Method,
        Self::Unauthorized,
        Self::TooLarge,
        Self::MediaType,
        Self::BadRequest,
        Self::Invalid,
        Self::Timeout,
        Self::QueueFull,
        Self::Unavailable,
        Self::Overloaded,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Method => "method_not_allowed",
            Self::Unauthorized => "unauthorized",
            Self::TooLarge => "too_large",
            Self::MediaType => "unsupported_media_type",
            Self::BadRequest => "bad_request",
            Self::Invalid => "invalid",
            Self::Timeout => "timeout",
            Self::QueueFull => "queue_full",
            Self::Unavailable => "unavailable",
            Self::Overloaded => "overloaded",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    accepted: AtomicU64,
    duplicate: AtomicU64,
    refused: [AtomicU64; Refusal::ALL.len()],
}

/// The listener's counters, one set per route and one for requests to no route.
#[derive(Debug)]
pub struct WebhookMetrics {
    routes: Vec<(String, Counters)>,
}

/// Which counters a request counts in: a route's index, or `None` for no route.
pub(crate) type RouteSlot = Option<usize>;

impl WebhookMetrics {
    pub(crate) fn new(paths: impl IntoIterator<Item = String>) -> Self {
        let mut routes: Vec<(String, Counters)> = paths
            .into_iter()
            .map(|path| (path, Counters::default()))
            .collect();
        routes.push((String::new(), Counters::default()));
        Self { routes }
    }

    fn counters(&self, route: RouteSlot) -> &Counters {
        let last = self.routes.len() - 1;
        &self.routes[route.unwrap_or(last).min(last)].1
    }

    pub(crate) fn received(&self, route: RouteSlot) {
        self.counters(route)
            .received
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn accepted(&self, route: RouteSlot) {
        self.counters(route)
            .accepted
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn duplicate(&self, route: RouteSlot) {
        self.counters(route)
            .duplicate
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self, route: RouteSlot, reason: Refusal) {
        self.counters(route).refused[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests refused on `path` (`""` for no route) for `reason`, so far.
    pub fn refused_count(&self, path: &str, reason: Refusal) -> u64 {
        self.routes
            .iter()
            .find(|(p, _)| p == path)
            .map_or(0, |(_, c)| {
                c.refused[reason.index()].load(Ordering::Relaxed)
            })
    }
}

impl MetricsSource for WebhookMetrics {
    fn collect(&self) -> Vec<MetricFamily> {
        let counter = |name: &str, help: &str, read: fn(&Counters) -> u64| {
            self.routes.iter().fold(
                MetricFamily::new(name, help, MetricKind::Counter),
                |family, (path, counters)| {
                    family.with_sample(&[("route", path)], MetricValue::Counter(read(counters)))
                },
            )
        };
        let mut refused = MetricFamily::new(
            "plba_webhook_requests_refused_total",
            "Webhook requests refused, by route and reason.",
            MetricKind::Counter,
        );
        for (path, counters) in &self.routes {
            for reason in Refusal::ALL {
                refused = refused.with_sample(
                    &[("route", path), ("reason", reason.as_str())],
                    MetricValue::Counter(counters.refused[reason.index()].load(Ordering::Relaxed)),
                );
            }
        }
        vec![
            counter(
                "plba_webhook_requests_received_total",
                "Webhook requests received, by route.",
                |c| c.received.load(Ordering::Relaxed),
            ),
            counter(
                "plba_webhook_requests_accepted_total",
                "Webhook requests that became a task, by route.",
                |c| c.accepted.load(Ordering::Relaxed),
            ),
            counter(
                "plba_webhook_requests_duplicate_total",
                "Webhook requests whose idempotency key already had a task, by route.",
                |c| c.duplicate.load(Ordering::Relaxed),
            ),
            refused,
        ]
    }
}
