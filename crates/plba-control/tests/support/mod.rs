//! What the control plane's tests share: a runtime with a queue, a worker pool and a
//! critical health contributor the test can switch, served by a real control server.

#![allow(dead_code)] // each test binary uses its own part

use std::sync::{Arc, Mutex};
use std::time::Duration;

use plba_config::{ConfigSource, ConfigurationManager, ControlConfig, ControlRole, ControlToken};
use plba_contracts::{HealthContributor, HealthOptions, HealthReport, Secret, async_trait};
use plba_control::{ControlClient, ControlPlaneService, ControlServer};
use plba_core::RuntimeManager;
use plba_queue_memory::{MemoryQueue, MemoryQueueOptions};
use plba_testkit::handlers::GateHandler;
use plba_testkit::module::FnModule;
use plba_util::Unpoisoned;
use plba_workers::QueueWorkerPool;

pub(crate) const DEADLINE: Duration = Duration::from_secs(20);
pub(crate) const ADMIN: &str = "admin-t0ken";
pub(crate) const VIEWER: &str = "viewer-t0ken";

/// A critical contributor the test can turn unhealthy.
pub(crate) struct Switch(pub(crate) Mutex<HealthReport>);

#[async_trait]
impl HealthContributor for Switch {
    async fn check(&self) -> HealthReport {
        self.0.lock_or_recover().clone()
    }
}

pub(crate) struct Fixture {
    pub(crate) runtime: RuntimeManager,
    pub(crate) server: ControlServer,
    pub(crate) queue: Arc<MemoryQueue>,
    pub(crate) handler: Arc<GateHandler>,
    pub(crate) database: Arc<Switch>,
    pub(crate) config_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Fixture {
    pub(crate) async fn start(control: ControlConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config_file = dir.path().join("plba.yaml");
        std::fs::write(&config_file, "jobs:\n  greeting: hi\n").unwrap();
        let source = ConfigSource::new()
            .with_file(&config_file)
            .with_env_vars(Vec::<(String, String)>::new());
        let configuration = Arc::new(ConfigurationManager::load(source).unwrap());
        let runtime = RuntimeManager::with_config(
            plba_core::RuntimeOptions::default(),
            configuration.provider(),
        );
        let queue = Arc::new(MemoryQueue::new("jobs", MemoryQueueOptions::default()).unwrap());
        let handler = Arc::new(GateHandler::new());
        let database = Arc::new(Switch(Mutex::new(HealthReport::ok())));
        let module = {
            let (queue, handler, database) = (queue.clone(), handler.clone(), database.clone());
            FnModule::new("jobs", move |registry| {
                registry.add_queue(queue.clone())?;
                registry.add_health_contributor(
                    "database",
                    database.clone(),
                    HealthOptions::critical(),
                )?;
                QueueWorkerPool::new("jobs-workers", queue.clone(), handler.clone())
                    .concurrency(3)
                    .register(registry)?;
                Ok(())
            })
        };
        runtime.register(&module).await.unwrap();
        runtime.start().await.unwrap();
        let control = ControlConfig {
            bind: "127.0.0.1:0".into(),
            ..control
        };
        let service = Arc::new(
            ControlPlaneService::new(runtime.clone(), control).with_configuration(configuration),
        );
        let server = ControlServer::start(service).await.unwrap();
        Self {
            runtime,
            server,
            queue,
            handler,
            database,
            config_file,
            _dir: dir,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.server.local_addr())
    }

    pub(crate) fn client(&self, token: Option<&str>) -> ControlClient {
        let client = ControlClient::new(self.url());
        match token {
            Some(token) => client.with_token(Secret::new(token.to_owned())),
            None => client,
        }
    }
}

pub(crate) fn with_tokens() -> ControlConfig {
    ControlConfig {
        tokens: vec![
            ControlToken {
                name: "ops".into(),
                token: Secret::new(ADMIN.into()),
                role: ControlRole::Admin,
            },
            ControlToken {
                name: "grafana".into(),
                token: Secret::new(VIEWER.into()),
                role: ControlRole::Viewer,
            },
        ],
        ..ControlConfig::default()
    }
}
