//! Task handlers that record what they handled.

use std::collections::HashMap;
use std::sync::Mutex;

use plba_contracts::{Task, TaskError, TaskHandler, TaskId, async_trait};

/// Counts how often each task id was handled; always succeeds.
#[derive(Default)]
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
        self.counts.lock().unwrap().values().map(|&n| n as usize).sum()
    }

    /// How many distinct tasks were handled.
    pub fn distinct(&self) -> usize {
        self.counts.lock().unwrap().len()
    }

    /// How often `id` was handled.
    pub fn count(&self, id: TaskId) -> u32 {
        self.counts.lock().unwrap().get(&id).copied().unwrap_or(0)
    }

    /// Ids handled more than once, with their counts.
    pub fn duplicates(&self) -> Vec<(TaskId, u32)> {
        self.counts
            .lock()
            .unwrap()
            .iter()
            .filter(|&(_, &n)| n > 1)
            .map(|(&id, &n)| (id, n))
            .collect()
    }
}

#[async_trait]
impl TaskHandler for CountingHandler {
    async fn handle(&self, task: &Task) -> Result<(), TaskError> {
        *self.counts.lock().unwrap().entry(task.id).or_default() += 1;
        Ok(())
    }
}
