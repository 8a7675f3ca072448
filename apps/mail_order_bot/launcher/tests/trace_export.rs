//! The shipped Maildir example exporting traces over OTLP (set with `--set`, as an operator
//! would for a try): each mail's handler span reaches the collector; the in-process queue
//! makes no producer span unless `platform.tracing.in_process_producer_spans` asks for one,
//! and then the handler span is its child.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod support;

use std::path::Path;

use plba_testkit::otlp::{OtlpReceiver, Span, hex};
use plba_testkit::process::wait_until;
use support::{
    DEADLINE, control_addr, deliver_orders, example_with_customers, listed, start_bot, wait_ready,
};

const MAILS: usize = 3;

/// Runs the example on `MAILS` orders, exporting to `endpoint`, with `extra` settings;
/// returns once the bot stopped (its exporter flushed at the stop).
fn run_exporting(dir: &Path, endpoint: &str, extra: &[&str]) {
    let config = dir.join("bot.yaml");
    std::fs::write(
        &config,
        example_with_customers("    \"@acme.example\": ACME\n"),
    )
    .unwrap();
    let config = config.display().to_string();
    let addr = control_addr();
    let env = [("PLBA__PLATFORM__CONTROL__BIND", addr.to_string())];
    let exporter = format!("platform.tracing.otlp.endpoint={endpoint}");
    let mut args = vec![
        "--config",
        config.as_str(),
        "--set",
        "platform.tracing.exporter=otlp",
        "--set",
        exporter.as_str(),
        "--set",
        "platform.tracing.otlp.scheduled_delay_ms=50",
    ];
    for setting in extra {
        args.extend(["--set", setting]);
    }
    args.push("run");
    let bot = start_bot(dir, &args, &env);
    wait_ready(&bot, addr);
    deliver_orders(&dir.join("data/Maildir"), MAILS, "traced");
    let list = ["--config", config.as_str()];
    wait_until(DEADLINE, "an order for every mail", || {
        listed(dir, "orders", &list, &env).len() == MAILS
    });
    let (status, log) = bot.stop(DEADLINE);
    assert!(status.success(), "exit {status:?}:\n{log}");
}

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

#[test]
fn the_in_process_queue_makes_no_producer_span_unless_asked() {
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let receiver = runtime.block_on(OtlpReceiver::start());
    let dir = tempfile::tempdir().unwrap();
    run_exporting(dir.path(), &receiver.endpoint(), &[]);
    wait_until(DEADLINE, "every handler span exported", || {
        named(&receiver.spans(), "mail process").len() >= MAILS
    });
    let spans = receiver.spans();
    assert!(
        named(&spans, "mail publish").is_empty(),
        "no producer span for the in-process queue: {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );

    let receiver = runtime.block_on(OtlpReceiver::start());
    let dir = tempfile::tempdir().unwrap();
    run_exporting(
        dir.path(),
        &receiver.endpoint(),
        &["platform.tracing.in_process_producer_spans=true"],
    );
    wait_until(DEADLINE, "producer and handler spans exported", || {
        let spans = receiver.spans();
        named(&spans, "mail process").len() >= MAILS && named(&spans, "mail publish").len() >= MAILS
    });
    let spans = receiver.spans();
    let producers: Vec<String> = named(&spans, "mail publish")
        .iter()
        .map(|s| hex(&s.span_id))
        .collect();
    for consumer in named(&spans, "mail process") {
        assert!(
            producers.contains(&hex(&consumer.parent_span_id)),
            "asked for, every handler span is a producer span's child"
        );
    }
}
