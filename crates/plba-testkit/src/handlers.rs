//! Task handlers that record what they handled.

use plba_util::Unpoisoned;
use std::collections::HashMap;
use std::sync::Mutex;

use plba_contracts::{Task, TaskError, TaskHandler, TaskId, async_trait};

/// Counts how often each task id was handled; always succeeds.
#[derive(Debug, Default)]
pub struct CountingHandler {
    counts: Mutex<HashMap<TaskId, u32>>,
}

impl CountingHandler {
    /// A handler that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many handle calls there were in total.
    pub fn total(&self) -> usize {
        self.counts
            .lock_or_recover()
            .values()
            .map(|&n| n as usize)
            .sum()
    }

    /// How many distinct tasks were handled.
    pub fn distinct(&self) -> usize {
        self.counts.lock_or_recover().len()
    }

    /// How often `id` was handled.
    pub fn count(&self, id: TaskId) -> u32 {
        self.counts.lock_or_recover().get(&id).copied().unwrap_or(0)
    }

    /// Ids handled more than once, with their counts.
    pub fn duplicates(&self) -> Vec<(TaskId, u32)> {
        self.counts
            .lock_or_recover()
            .iter()
            .filter(|&(_, &n)| n > 1)
            .map(|(&id, &n)| (id, n))
            .collect()
    }
}

#[async_trait]
impl TaskHandler for CountingHandler {
    async fn handle(&self, task: &Task) -> Result<(), TaskError> {
        *self.counts.lock_or_recover().entry(task.id).or_default() += 1;
        Ok(())
    }
}

/// Blocks every task until [`open`](Self::open) is called; counts starts and completions.
#[derive(Debug)]
pub struct GateHandler {
    started: std::sync::atomic::AtomicUsize,
    finished: std::sync::atomic::AtomicUsize,
    gate: tokio::sync::watch::Sender<bool>,
}

impl Default for GateHandler {
    fn default() -> Self {
        Self {
            started: Default::default(),
            finished: Default::default(),
            gate: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl GateHandler {
    /// A handler with its gate closed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets every waiting and future task finish.
    pub fn open(&self) {
        self.gate.send_replace(true);
    }

    /// Tasks that entered the handler.
    pub fn started(&self) -> usize {
        self.started.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Tasks that left the handler successfully.
    pub fn finished(&self) -> usize {
        self.finished.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl TaskHandler for GateHandler {
    async fn handle(&self, _task: &Task) -> Result<(), TaskError> {
        self.started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut gate = self.gate.subscribe();
        gate.wait_for(|open| *open)
            .await
            .map_err(|_| TaskError::transient("gate dropped"))?;
        self.finished
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// Never finishes a task (a hung dependency); counts how many it was given.
#[derive(Debug, Default)]
pub struct HangingHandler {
    started: std::sync::atomic::AtomicUsize,
}

impl HangingHandler {
    /// Tasks that entered the handler.
    pub fn started(&self) -> usize {
        self.started.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl TaskHandler for HangingHandler {
    async fn handle(&self, _task: &Task) -> Result<(), TaskError> {
        self.started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::future::pending().await
    }
}
