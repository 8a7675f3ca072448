//! Every control action leaves an audit line naming who (by token name), what and the
//! result; the token itself never appears.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use plba_config::{ControlConfig, ControlRole, ControlToken};
use plba_contracts::Secret;
use plba_control::{Action, ControlPlaneService};
use plba_core::{RuntimeManager, RuntimeOptions};
use plba_testkit::logs::CapturedLogs;

#[tokio::test(flavor = "current_thread")]
async fn actions_are_audited_by_token_name_without_the_token() {
    const TOKEN: &str = "very-s3cret-admin-token";
    let logs = CapturedLogs::new();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let runtime = RuntimeManager::new(RuntimeOptions::default());
    runtime.start().await.unwrap();
    let config = ControlConfig {
        tokens: vec![ControlToken {
            name: "ops-oncall".into(),
            token: Secret::new(TOKEN.into()),
            role: ControlRole::Admin,
        }],
        ..ControlConfig::default()
    };
    let service = ControlPlaneService::new(runtime, config);
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        service
            .perform(Action::Stop, Some(&bearer))
            .await
            .unwrap()
            .status,
        200
    );
    let refused = service.perform(Action::Reload, None).await.unwrap_err();
    assert_eq!((refused.status(), refused.code()), (401, "unauthorized"));
    assert_eq!(
        service
            .perform(Action::Status, Some(&bearer))
            .await
            .unwrap()
            .status,
        200
    );

    let text = logs.text();
    let audit: Vec<&str> = text.lines().filter(|l| l.contains("plba::audit")).collect();
    assert_eq!(
        audit.len(),
        2,
        "one line per action attempt, reads are not audited: {text}"
    );
    assert!(
        audit[0].contains("who=\"ops-oncall\"") || audit[0].contains("who=ops-oncall"),
        "{}",
        audit[0]
    );
    assert!(
        audit[0].contains("action=\"stop\"") || audit[0].contains("action=stop"),
        "{}",
        audit[0]
    );
    assert!(audit[0].contains("status=200"), "{}", audit[0]);
    assert!(
        audit[1].contains("anonymous") && audit[1].contains("status=401"),
        "{}",
        audit[1]
    );
    assert!(
        !text.contains(TOKEN),
        "the token leaked into the log: {text}"
    );
}
