//! The exporter's sampler: new traces at `sample_ratio`, except the ones a task publish
//! already drew.

use opentelemetry::trace::{Link, SpanKind, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, ShouldSample};

/// Samples the root spans of new traces: a root producer span is kept, since only the task
/// tracer makes producer spans and it makes a root one only for a trace it drew as sampled
/// (an unsampled one makes no span at all, which is what keeps tracing cheap at low ratios);
/// any other root span is drawn at the ratio. Spans with a parent follow it
/// (`Sampler::ParentBased` around this).
#[derive(Clone, Debug)]
pub(crate) struct TaskRoots {
    ratio: Sampler,
}

impl TaskRoots {
    pub(crate) fn new(ratio: f64) -> Self {
        Self {
            ratio: Sampler::TraceIdRatioBased(ratio),
        }
    }
}

impl ShouldSample for TaskRoots {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        if *span_kind == SpanKind::Producer {
            return SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                attributes: Vec::new(),
                trace_state: TraceState::default(),
            };
        }
        self.ratio
            .should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}
