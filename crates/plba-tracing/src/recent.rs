//! A bounded record of the most recent task traces, for "what happened to this task?".

use plba_util::Unpoisoned;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::SystemTime;

use plba_contracts::TaskId;
use serde::Serialize;

/// Steps kept per task; a task retried more often keeps its first and latest steps.
const MAX_STEPS: usize = 64;

/// One step of a task's life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceStep {
    /// When it happened.
    pub at: SystemTime,
    /// `published`, `received`, `succeeded`, `retrying`, `dead_lettered` or `released`.
    pub step: &'static str,
    /// The attempt number for deliveries.
    pub attempt: u32,
    /// A reason, for failures.
    pub detail: Option<String>,
}

/// What is known about one task's trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskTrace {
    /// The W3C trace id (32 hex digits), when the task was traced.
    pub trace_id: Option<String>,
    /// The task id.
    pub task_id: String,
    /// The task name.
    pub task_name: String,
    /// The queue (destination).
    pub destination: String,
    /// The steps, oldest first.
    pub steps: Vec<TraceStep>,
    /// The last outcome, once there is one.
    pub outcome: Option<&'static str>,
}

/// The last `capacity` task traces (about: the record is kept in shards of `capacity / 8`
/// tasks each, the oldest of a shard evicted first). Cheap to update: a step takes one short
/// lock of one shard, so the producer and the consumers of a busy queue rarely meet, and it
/// costs no formatting (ids are turned into text only when read).
#[derive(Debug)]
pub struct RecentTraces {
    capacity: usize,
    shards: Vec<Mutex<Inner>>,
}

/// Shards of the record; task ids end in a counter, so consecutive tasks spread evenly.
const SHARDS: usize = 8;

#[derive(Debug, Default)]
struct Inner {
    order: VecDeque<TaskId>,
    traces: HashMap<TaskId, Entry>,
}

/// One task's trace as kept: [`TaskTrace`] before its ids are turned into text.
#[derive(Debug)]
struct Entry {
    trace_id: Option<u128>,
    task_name: String,
    destination: String,
    steps: Vec<TraceStep>,
    outcome: Option<&'static str>,
}

impl Entry {
    fn to_trace(&self, task_id: TaskId) -> TaskTrace {
        TaskTrace {
            trace_id: self.trace_id.map(|id| format!("{id:032x}")),
            task_id: task_id.to_string(),
            task_name: self.task_name.clone(),
            destination: self.destination.clone(),
            steps: self.steps.clone(),
            outcome: self.outcome,
        }
    }
}

impl RecentTraces {
    /// A record of at most `capacity` tasks (0 keeps nothing).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn shard(&self, task_id: TaskId) -> &Mutex<Inner> {
        let index = usize::try_from(task_id.as_u128() % SHARDS as u128).unwrap_or(0);
        &self.shards[index]
    }

    pub(crate) fn record(
        &self,
        task_id: TaskId,
        task_name: &str,
        destination: &str,
        trace_id: Option<u128>,
        step: TraceStep,
    ) {
        if self.capacity == 0 {
            return;
        }
        let fresh = || Entry {
            trace_id: None,
            task_name: task_name.to_owned(),
            destination: destination.to_owned(),
            steps: Vec::with_capacity(3),
            outcome: None,
        };
        // A task's first step makes its entry: allocate it before taking the lock, which
        // every producer and consumer shares.
        let mut made = (step.step == "published").then(fresh);
        let per_shard = self.capacity.div_ceil(SHARDS);
        let mut inner = self.shard(task_id).lock_or_recover();
        if !inner.traces.contains_key(&task_id) {
            while inner.order.len() >= per_shard {
                if let Some(oldest) = inner.order.pop_front() {
                    inner.traces.remove(&oldest);
                }
            }
            inner.order.push_back(task_id);
        }
        let trace = inner
            .traces
            .entry(task_id)
            .or_insert_with(|| made.take().unwrap_or_else(fresh));
        if trace.trace_id.is_none() {
            trace.trace_id = trace_id;
        }
        if step.step != "published" && step.step != "received" {
            trace.outcome = Some(step.step);
        }
        if trace.steps.len() >= MAX_STEPS {
            trace.steps.remove(1);
        }
        trace.steps.push(step);
    }

    /// The most recent traces, newest first, at most `limit`.
    pub fn recent(&self, limit: usize) -> Vec<TaskTrace> {
        let mut all: Vec<(SystemTime, TaskId, TaskTrace)> = Vec::new();
        for shard in &self.shards {
            let inner = shard.lock_or_recover();
            all.extend(inner.order.iter().rev().take(limit).filter_map(|id| {
                let entry = inner.traces.get(id)?;
                let first = entry.steps.first().map_or(SystemTime::UNIX_EPOCH, |s| s.at);
                Some((first, *id, entry.to_trace(*id)))
            }));
        }
        all.sort_by_key(|(first, id, _)| std::cmp::Reverse((*first, *id)));
        all.into_iter()
            .take(limit)
            .map(|(_, _, trace)| trace)
            .collect()
    }

    /// The trace of a task, looked up by task id or trace id (32 hex digits).
    pub fn get(&self, id: &str) -> Option<TaskTrace> {
        if let Ok(task_id) = id.parse::<TaskId>()
            && let Some(entry) = self.shard(task_id).lock_or_recover().traces.get(&task_id)
        {
            return Some(entry.to_trace(task_id));
        }
        let trace_id = u128::from_str_radix(id, 16)
            .ok()
            .filter(|_| id.len() == 32)?;
        self.shards.iter().find_map(|shard| {
            let inner = shard.lock_or_recover();
            inner
                .traces
                .iter()
                .find(|(_, entry)| entry.trace_id == Some(trace_id))
                .map(|(task_id, entry)| entry.to_trace(*task_id))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &'static str) -> TraceStep {
        TraceStep {
            at: SystemTime::now(),
            step: name,
            attempt: 1,
            detail: None,
        }
    }

    #[test]
    fn keeps_the_newest_tasks_and_their_outcome() {
        let recent = RecentTraces::new(16);
        let ids: Vec<TaskId> = (0..100).map(|_| TaskId::generate()).collect();
        for (n, id) in ids.iter().enumerate() {
            recent.record(*id, "t", "q", Some(n as u128 + 1), step("published"));
        }
        recent.record(ids[99], "t", "q", None, step("succeeded"));
        let newest: Vec<String> = recent
            .recent(1000)
            .iter()
            .map(|t| t.task_id.clone())
            .collect();
        let last: Vec<String> = ids[84..].iter().rev().map(ToString::to_string).collect();
        assert_eq!(newest, last, "the last 16, newest first");
        assert_eq!(recent.recent(3).len(), 3);
        assert!(recent.get(&ids[0].to_string()).is_none(), "oldest evicted");
        assert!(
            recent.get(&ids[90].to_string()).is_some(),
            "found by task id"
        );
        let c = recent.get(&format!("{:032x}", 100)).unwrap();
        assert_eq!(c.outcome, Some("succeeded"));
        assert_eq!(c.steps.len(), 2);
    }
}
