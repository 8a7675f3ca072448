//! A bounded record of the most recent task traces, for "what happened to this task?".

use plba_util::{CachePadded, SHARDS, Unpoisoned, shard_index};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use plba_contracts::TaskId;
use serde::Serialize;

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

/// The last `capacity` task traces (about: see below), for the control plane.
///
/// Cheap to update, since every task records three steps (published, received, its
/// outcome) on the threads that run it: a step is one short lock of the recording thread's
/// own slot ([`plba_util::shard_index`]) and a write into that slot's ring of steps, with no
/// map, no formatting, and — while the slot's table of names has room for the names it
/// sees (64) — no allocation and no reference count: a step refers to its names by their
/// number in that table. The work of putting a task's steps together — they may sit in several
/// slots — is done when someone reads, which is rare.
///
/// Each slot keeps the last `3 × capacity` steps, so a task's trace lasts at least until
/// about `capacity` later tasks went through the same thread; reads return at most
/// `capacity` traces. A task whose oldest steps were overwritten shows the steps left.
#[derive(Debug)]
pub struct RecentTraces {
    capacity: usize,
    slots: [CachePadded<Mutex<Ring>>; SHARDS],
}

/// Steps kept per slot, per task of capacity: published, received, outcome.
const STEPS_PER_TASK: usize = 3;

/// One slot: a ring of the last steps recorded on the threads that share it.
#[derive(Debug, Default)]
struct Ring {
    steps: Vec<Recorded>,
    /// Where the next step goes once the ring is full.
    next: usize,
    /// The task and queue names its steps refer to by number, so that writing and
    /// overwriting a step touches no reference count (tasks of one queue come in runs, and a
    /// process has a few names). Never shrinks; once it holds [`NAMES_PER_SLOT`] names, a
    /// new one is kept in its step.
    names: Vec<Arc<str>>,
    /// Where the last task name and the last queue name were found: the first place to
    /// look for each.
    last: [u16; 2],
}

/// Which of a step's names is looked up (each kind keeps its own hint).
#[derive(Clone, Copy)]
enum NameKind {
    Task = 0,
    Queue = 1,
}

/// The most names one slot's table keeps (more are kept with their steps).
const NAMES_PER_SLOT: usize = 64;

/// A task or queue name as a step keeps it.
#[derive(Clone, Debug)]
enum Name {
    /// An entry in the slot's table.
    Listed(u16),
    /// A name the full table had no room for.
    Own(Arc<str>),
}

/// One step as kept, with what identifies its task.
#[derive(Clone, Debug)]
struct Recorded {
    task_id: TaskId,
    trace_id: Option<u128>,
    task_name: Name,
    destination: Name,
    step: TraceStep,
}

impl Ring {
    /// `text` as a step keeps it: its entry in the table, added when there is room.
    fn name(&mut self, text: &str, kind: NameKind) -> Name {
        let hint = &mut self.last[kind as usize];
        if self
            .names
            .get(usize::from(*hint))
            .is_some_and(|name| **name == *text)
        {
            return Name::Listed(*hint);
        }
        let found = self.names.iter().position(|name| **name == *text);
        let index = match found {
            Some(index) => index,
            None if self.names.len() < NAMES_PER_SLOT => {
                self.names.push(Arc::from(text));
                self.names.len() - 1
            }
            None => return Name::Own(Arc::from(text)),
        };
        // The table never holds more than `NAMES_PER_SLOT` (64) names.
        let index = u16::try_from(index).unwrap_or(u16::MAX);
        *hint = index;
        Name::Listed(index)
    }

    /// The text of a name kept in this slot (the table never loses an entry).
    fn text(&self, name: &Name) -> Arc<str> {
        match name {
            Name::Listed(index) => self
                .names
                .get(usize::from(*index))
                .map_or_else(|| Arc::from(""), Arc::clone),
            Name::Own(text) => Arc::clone(text),
        }
    }

    fn push(&mut self, recorded: Recorded, limit: usize) {
        if self.steps.len() < limit {
            self.steps.push(recorded);
            self.next = self.steps.len() % limit;
        } else if let Some(slot) = self.steps.get_mut(self.next) {
            *slot = recorded;
            self.next = (self.next + 1) % limit;
        }
    }
}

/// A step as read, with its names resolved.
#[derive(Clone, Debug)]
struct Read {
    trace_id: Option<u128>,
    task_name: Arc<str>,
    destination: Arc<str>,
    step: TraceStep,
}

/// Orders a task's steps recorded in the same instant on different threads.
fn step_rank(step: &str) -> u8 {
    match step {
        "published" => 0,
        "received" => 1,
        _ => 2,
    }
}

impl RecentTraces {
    /// A record of about `capacity` tasks (0 keeps nothing).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            slots: Default::default(),
        }
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
        let limit = self.capacity.saturating_mul(STEPS_PER_TASK);
        let mut ring = self.slots[shard_index()].lock_or_recover();
        let recorded = Recorded {
            task_id,
            trace_id,
            task_name: ring.name(task_name, NameKind::Task),
            destination: ring.name(destination, NameKind::Queue),
            step,
        };
        ring.push(recorded, limit);
    }

    /// Every task's steps, put together from all slots, oldest step first.
    fn assemble(&self, wanted: impl Fn(&Recorded) -> bool) -> Vec<TaskTrace> {
        let mut by_task: HashMap<TaskId, Vec<Read>> = HashMap::new();
        for slot in &self.slots {
            let ring = slot.lock_or_recover();
            for recorded in ring.steps.iter().filter(|r| wanted(r)) {
                by_task.entry(recorded.task_id).or_default().push(Read {
                    trace_id: recorded.trace_id,
                    task_name: ring.text(&recorded.task_name),
                    destination: ring.text(&recorded.destination),
                    step: recorded.step.clone(),
                });
            }
        }
        by_task
            .into_iter()
            .filter_map(|(task_id, mut steps)| {
                steps.sort_by_key(|r| (r.step.at, r.step.attempt, step_rank(r.step.step)));
                let first = steps.first()?;
                Some(TaskTrace {
                    trace_id: steps
                        .iter()
                        .find_map(|r| r.trace_id)
                        .map(|id| format!("{id:032x}")),
                    task_id: task_id.to_string(),
                    task_name: first.task_name.to_string(),
                    destination: first.destination.to_string(),
                    outcome: steps
                        .iter()
                        .rev()
                        .map(|r| r.step.step)
                        .find(|step| step_rank(step) == 2),
                    steps: steps.into_iter().map(|r| r.step).collect(),
                })
            })
            .collect()
    }

    /// The most recent traces (by their first step), newest first, at most `limit` (and
    /// at most the record's capacity).
    pub fn recent(&self, limit: usize) -> Vec<TaskTrace> {
        let mut all = self.assemble(|_| true);
        all.sort_by_key(|trace| {
            let first = trace.steps.first().map_or(SystemTime::UNIX_EPOCH, |s| s.at);
            std::cmp::Reverse((first, trace.task_id.clone()))
        });
        all.truncate(limit.min(self.capacity));
        all
    }

    /// The trace of a task, looked up by task id or trace id (32 hex digits).
    pub fn get(&self, id: &str) -> Option<TaskTrace> {
        if let Ok(task_id) = id.parse::<TaskId>()
            && let Some(trace) = self.assemble(|r| r.task_id == task_id).pop()
        {
            return Some(trace);
        }
        let trace_id = u128::from_str_radix(id, 16)
            .ok()
            .filter(|_| id.len() == 32)?;
        // Steps of one task recorded before its trace id was known have none: find the
        // task by the id first, then take all its steps.
        let task_id = self
            .assemble(|r| r.trace_id == Some(trace_id))
            .pop()?
            .task_id;
        let task_id = task_id.parse::<TaskId>().ok()?;
        self.assemble(|r| r.task_id == task_id).pop()
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

    #[test]
    fn more_names_than_a_slot_lists_are_kept_with_their_steps() {
        let recent = RecentTraces::new(200);
        let ids: Vec<TaskId> = (0..NAMES_PER_SLOT + 10)
            .map(|_| TaskId::generate())
            .collect();
        for (n, id) in ids.iter().enumerate() {
            recent.record(*id, &format!("task-{n}"), "q", None, step("published"));
        }
        for (n, id) in ids.iter().enumerate() {
            let trace = recent.get(&id.to_string()).unwrap();
            assert_eq!(trace.task_name, format!("task-{n}"));
            assert_eq!(trace.destination, "q");
        }
    }

    #[test]
    fn a_task_seen_on_several_threads_reads_as_one_trace() {
        let recent = Arc::new(RecentTraces::new(8));
        let id = TaskId::generate();
        recent.record(id, "t", "q", Some(7), step("published"));
        let other = Arc::clone(&recent);
        std::thread::spawn(move || {
            for name in ["received", "retrying", "received", "succeeded"] {
                other.record(id, "t", "q", None, step(name));
            }
        })
        .join()
        .unwrap();
        let trace = recent.get(&id.to_string()).unwrap();
        let steps: Vec<&str> = trace.steps.iter().map(|s| s.step).collect();
        assert_eq!(
            steps,
            ["published", "received", "retrying", "received", "succeeded"]
        );
        assert_eq!(trace.outcome, Some("succeeded"));
        assert_eq!(
            trace.trace_id.as_deref(),
            Some(format!("{:032x}", 7).as_str())
        );
        assert_eq!(recent.get(&format!("{:032x}", 7)), Some(trace));
    }
}
