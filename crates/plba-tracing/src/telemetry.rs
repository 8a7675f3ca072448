//! Telemetry: the subscriber (logs + spans), the exporter, the live log filter.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use plba_config::{LogConfig, LogFormat, LogOutput, PlatformConfig, TraceExporter, TracingConfig};
use plba_contracts::TaskTracer;
use tracing::Dispatch;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry, reload};

use crate::error::TracingError;
use crate::exporter_log::LogSpanExporter;
use crate::recent::RecentTraces;
use crate::task_context::{CONTEXT_TARGET, TaskContextLayer};
use crate::task_tracer::{OtelTaskTracer, TASK_TARGET};

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// The process's logging and tracing, as configured by the `log` and `platform.tracing`
/// sections. Keep it alive for the process's lifetime and call [`shutdown`](Self::shutdown)
/// at exit to flush spans.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    tracer: Arc<OtelTaskTracer>,
    recent: Arc<RecentTraces>,
    filter: reload::Handle<EnvFilter, Registry>,
}

fn env_filter(directives: &str) -> Result<EnvFilter, TracingError> {
    EnvFilter::builder()
        .parse(directives)
        .map_err(|e| TracingError::Filter {
            directives: directives.to_owned(),
            source: Box::new(e),
        })
}

impl Telemetry {
    /// Builds the subscriber with logs going where `log.output` says.
    pub fn build(
        platform: &PlatformConfig,
        log: &LogConfig,
    ) -> Result<(Self, Dispatch), TracingError> {
        use std::io::IsTerminal;
        let (writer, terminal) = match log.output {
            LogOutput::Stderr => (
                BoxMakeWriter::new(std::io::stderr),
                std::io::stderr().is_terminal(),
            ),
            LogOutput::Stdout => (
                BoxMakeWriter::new(std::io::stdout),
                std::io::stdout().is_terminal(),
            ),
        };
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self::build_inner(platform, log, writer, terminal && !no_color)
    }

    /// Builds the subscriber with logs going to `writer` (tests capture them this way),
    /// without colour codes.
    pub fn build_with_writer(
        platform: &PlatformConfig,
        log: &LogConfig,
        writer: BoxMakeWriter,
    ) -> Result<(Self, Dispatch), TracingError> {
        Self::build_inner(platform, log, writer, false)
    }

    /// Colour (ANSI codes) only for a terminal: a file or a pipe gets plain text
    /// (<https://no-color.org>: `NO_COLOR` turns it off for terminals too).
    fn build_inner(
        platform: &PlatformConfig,
        log: &LogConfig,
        writer: BoxMakeWriter,
        ansi: bool,
    ) -> Result<(Self, Dispatch), TracingError> {
        let (filter, handle) = reload::Layer::new(env_filter(&log.directives())?);
        let fmt: BoxedLayer = match log.format {
            LogFormat::Pretty => tracing_subscriber::fmt::layer()
                .with_ansi(ansi)
                .fmt_fields(readable_fields())
                .with_writer(writer)
                .with_filter(filter)
                .boxed(),
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .json()
                .with_writer(writer)
                .with_filter(filter)
                .boxed(),
        };
        let provider = build_provider(&platform.tracing)?;
        let level =
            LevelFilter::from_str(&platform.tracing.level).map_err(|e| TracingError::Filter {
                directives: platform.tracing.level.clone(),
                source: Box::new(e),
            })?;
        // Busy/idle timings, thread and source-location attributes cost clock reads and
        // allocations on every task span and tell an operator little: off.
        let spans: BoxedLayer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("plba"))
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_location(false)
            .with_target(false)
            .with_filter(
                Targets::new()
                    .with_target(TASK_TARGET, LevelFilter::TRACE)
                    .with_default(level),
            )
            .boxed();
        let context: BoxedLayer = TaskContextLayer
            .with_filter(Targets::new().with_target(CONTEXT_TARGET, LevelFilter::TRACE))
            .boxed();
        let dispatch = Dispatch::new(Registry::default().with(vec![fmt, spans, context]));
        let recent = Arc::new(RecentTraces::new(platform.tracing.recent_traces));
        let telemetry = Self {
            provider,
            tracer: Arc::new(
                OtelTaskTracer::with_sampling(
                    Arc::clone(&recent),
                    platform.tracing.exporter != TraceExporter::None,
                    platform.tracing.sample_ratio,
                )
                .with_in_process_producer_spans(platform.tracing.in_process_producer_spans),
            ),
            recent,
            filter: handle,
        };
        Ok((telemetry, dispatch))
    }

    /// Builds the subscriber and installs it for the whole process.
    pub fn install(platform: &PlatformConfig, log: &LogConfig) -> Result<Self, TracingError> {
        let (telemetry, dispatch) = Self::build(platform, log)?;
        tracing::dispatcher::set_global_default(dispatch)
            .map_err(|_| TracingError::AlreadyInstalled)?;
        Ok(telemetry)
    }

    /// Applies a new `log` section's filter at once. Format and output changes need a
    /// restart (they are reported, not applied).
    pub fn apply_log_config(&self, log: &LogConfig) -> Result<(), TracingError> {
        let filter = env_filter(&log.directives())?;
        self.filter.reload(filter).map_err(TracingError::Reload)?;
        tracing::info!(filter = %log.directives(), "log filter changed");
        Ok(())
    }

    /// Applies the `log` section of every configuration `changes` delivers, until `cancel`
    /// fires: log levels follow reloads without a restart.
    pub fn follow_config(
        self: &Arc<Self>,
        mut changes: tokio::sync::watch::Receiver<Arc<plba_config::ConfigSnapshot>>,
        cancel: plba_contracts::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let telemetry = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    changed = changes.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                }
                let log = changes.borrow_and_update().log().clone();
                if let Err(error) = telemetry.apply_log_config(&log) {
                    tracing::warn!(%error, "new log filter not applied");
                }
            }
        })
    }

    /// The tracer to hand to modules.
    pub fn task_tracer(&self) -> Arc<dyn TaskTracer> {
        Arc::clone(&self.tracer) as Arc<dyn TaskTracer>
    }

    /// The record of recent task traces.
    pub fn recent_traces(&self) -> Arc<RecentTraces> {
        Arc::clone(&self.recent)
    }

    /// Exports what is buffered and stops the exporter. Blocks up to the export timeout:
    /// call it from a blocking context at exit.
    pub fn shutdown(&self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "span exporter did not shut down cleanly");
        }
    }
}

/// Field formatting for human-readable lines: the OpenTelemetry attributes of task spans
/// (`otel.*`, `messaging.*`) are for trace backends and would drown every log line; the task
/// id and name stay (as `messaging.message.id` they are dropped, as `plba.*` they show).
fn readable_fields() -> impl for<'writer> tracing_subscriber::fmt::FormatFields<'writer> + 'static {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let name = field.name();
        if name.starts_with("otel.") || name.starts_with("messaging.") {
            Ok(())
        } else if name == "message" {
            write!(writer, "{value:?}")
        } else {
            write!(writer, "{name}={value:?}")
        }
    })
    .delimited(" ")
}

fn build_provider(config: &TracingConfig) -> Result<SdkTracerProvider, TracingError> {
    let sampler = Sampler::ParentBased(Box::new(crate::sampler::TaskRoots::new(
        config.sample_ratio,
    )));
    let builder = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_resource(
            Resource::builder()
                .with_service_name(config.service_name.clone())
                .build(),
        );
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(config.otlp.max_queue_size)
        .with_max_export_batch_size(
            config
                .otlp
                .max_export_batch_size
                .min(config.otlp.max_queue_size),
        )
        .with_scheduled_delay(Duration::from_millis(config.otlp.scheduled_delay_ms))
        .build();
    let builder = match config.exporter {
        TraceExporter::None => builder,
        TraceExporter::Log => builder.with_span_processor(
            BatchSpanProcessor::builder(LogSpanExporter)
                .with_batch_config(batch)
                .build(),
        ),
        TraceExporter::Otlp => {
            let headers: HashMap<String, String> = config
                .otlp
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.expose().clone()))
                .collect();
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(config.otlp.endpoint.clone())
                .with_timeout(Duration::from_millis(config.otlp.timeout_ms))
                .with_headers(headers)
                .build()
                .map_err(|e| TracingError::Exporter {
                    endpoint: config.otlp.endpoint.clone(),
                    source: Box::new(e),
                })?;
            builder.with_span_processor(
                BatchSpanProcessor::builder(exporter)
                    .with_batch_config(batch)
                    .build(),
            )
        }
    };
    Ok(builder.build())
}
