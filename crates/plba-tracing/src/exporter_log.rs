//! The `log` exporter: one log line per finished span.

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Writes each finished span as an `info` event on target `plba::trace_export`.
#[derive(Debug, Default)]
pub(crate) struct LogSpanExporter;

impl SpanExporter for LogSpanExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        for span in &batch {
            let duration = span
                .end_time
                .duration_since(span.start_time)
                .unwrap_or_default();
            let attributes: Vec<String> = span
                .attributes
                .iter()
                .map(|kv| format!("{}={}", kv.key, kv.value))
                .collect();
            tracing::info!(
                target: "plba::trace_export",
                trace_id = %span.span_context.trace_id(),
                span_id = %span.span_context.span_id(),
                parent_span_id = %span.parent_span_id,
                kind = ?span.span_kind,
                duration_us = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX),
                attributes = %attributes.join(" "),
                "span {}",
                span.name
            );
        }
        std::future::ready(Ok(()))
    }
}
