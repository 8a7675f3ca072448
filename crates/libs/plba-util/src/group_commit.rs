//! Group commit: writes that arrive while another batch is being written are written
//! together, in the next batch, so many concurrent handlers share one transaction (and one
//! `fsync`) instead of queueing for one each.

use std::sync::Mutex;

use crate::sync::Unpoisoned;
use tokio::sync::oneshot;

/// One waiting job and where its result goes.
type Pending<J, R> = (J, oneshot::Sender<R>);

/// Collects jobs and runs them in batches, one batch at a time: a store's writes share one
/// transaction, a mailbox's flag changes one command.
///
/// There is no background task: the first caller to find the writer free becomes the leader,
/// takes every job waiting at that moment (its own included) and runs them as one batch;
/// callers that arrived meanwhile find their result ready when the writer is theirs, or lead
/// the next batch. A caller whose leader was cancelled mid-batch gets `None`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use plba_util::GroupCommit;
///
/// let writes = GroupCommit::<u32, u32>::new(100);
/// // `run` gets every job waiting when the batch starts and answers each, in order.
/// let doubled = writes
///     .submit(21, |jobs| async move { jobs.iter().map(|j| j * 2).collect() })
///     .await;
/// assert_eq!(doubled, Some(42));
/// # });
/// ```
pub struct GroupCommit<J, R> {
    pending: Mutex<Vec<Pending<J, R>>>,
    writer: tokio::sync::Mutex<()>,
    max_batch: usize,
}

impl<J, R> std::fmt::Debug for GroupCommit<J, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("waiting", &self.pending.lock_or_recover().len())
            .field("max_batch", &self.max_batch)
            .finish()
    }
}

impl<J, R> GroupCommit<J, R> {
    /// Batches of at most `max_batch` jobs.
    pub fn new(max_batch: usize) -> Self {
        Self {
            pending: Mutex::new(Vec::new()),
            writer: tokio::sync::Mutex::new(()),
            max_batch: max_batch.max(1),
        }
    }

    /// Runs `job` in a batch: `run` receives a batch's jobs and returns one result per job,
    /// in order. Returns this job's result, or `None` when the batch that held it was
    /// abandoned (its leader cancelled) before it ended.
    pub async fn submit<F, Fut>(&self, job: J, run: F) -> Option<R>
    where
        F: Fn(Vec<J>) -> Fut,
        Fut: Future<Output = Vec<R>>,
    {
        let (reply, mut result) = oneshot::channel();
        self.pending.lock_or_recover().push((job, reply));
        loop {
            // A result that is ready is taken at once, never behind the writer: the batch
            // that holds the writer may be waiting for something this caller's result
            // gives back when it is dropped (memory, a connection).
            let writer = tokio::select! {
                biased;
                done = &mut result => return done.ok(),
                writer = self.writer.lock() => writer,
            };
            match result.try_recv() {
                Ok(done) => return Some(done),
                Err(oneshot::error::TryRecvError::Closed) => return None,
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            // Our job is still waiting: lead a batch, oldest jobs first (ours may have to
            // wait for the next one when more than `max_batch` are ahead of it). Jobs
            // submitted at this very moment (handlers woken together) join this batch
            // instead of waiting for the next: let them run first.
            tokio::task::yield_now().await;
            let batch: Vec<Pending<J, R>> = {
                let mut pending = self.pending.lock_or_recover();
                // A caller that went away (cancelled) no longer wants its job done: it was
                // never told it was, and may submit it again. (Ours is still awaited.)
                pending.retain(|(_, reply)| !reply.is_closed());
                let take = pending.len().min(self.max_batch);
                pending.drain(..take).collect()
            };
            let (jobs, replies): (Vec<J>, Vec<oneshot::Sender<R>>) = batch.into_iter().unzip();
            let results = run(jobs).await;
            for (reply, outcome) in replies.into_iter().zip(results) {
                // A caller that went away no longer needs its result.
                let _ = reply.send(outcome);
            }
            drop(writer);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_jobs_share_batches_and_each_gets_its_own_result() {
        let group = Arc::new(GroupCommit::<u32, u32>::new(8));
        let batches = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..40)
            .map(|n| {
                let group = Arc::clone(&group);
                let batches = Arc::clone(&batches);
                tokio::spawn(async move {
                    group
                        .submit(n, |jobs: Vec<u32>| {
                            let batches = Arc::clone(&batches);
                            async move {
                                assert!(jobs.len() <= 8, "a batch of {}", jobs.len());
                                batches.fetch_add(1, Ordering::SeqCst);
                                tokio::task::yield_now().await;
                                jobs.iter().map(|j| j * 10).collect()
                            }
                        })
                        .await
                })
            })
            .collect();
        for (n, task) in (0u32..).zip(tasks) {
            assert_eq!(task.await.unwrap(), Some(n * 10));
        }
        assert!(batches.load(Ordering::SeqCst) >= 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_arriving_during_a_batch_are_written_together_in_the_next() {
        let group = Arc::new(GroupCommit::<u32, usize>::new(100));
        let release = Arc::new(tokio::sync::Notify::new());
        let (started, running) = oneshot::channel();
        let started = Mutex::new(Some(started));
        let first = tokio::spawn({
            let (group, release) = (Arc::clone(&group), Arc::clone(&release));
            async move {
                group
                    .submit(0, |jobs: Vec<u32>| {
                        let release = Arc::clone(&release);
                        if let Some(started) = started.lock_or_recover().take() {
                            let _ = started.send(());
                        }
                        async move {
                            release.notified().await;
                            vec![jobs.len(); jobs.len()]
                        }
                    })
                    .await
            }
        });
        // The first batch is running and holds the writer.
        running.await.unwrap();
        let followers: Vec<_> = (1..=5)
            .map(|n| {
                let group = Arc::clone(&group);
                tokio::spawn(async move {
                    group
                        .submit(
                            n,
                            |jobs: Vec<u32>| async move { vec![jobs.len(); jobs.len()] },
                        )
                        .await
                })
            })
            .collect();
        while group.pending.lock_or_recover().len() < 5 {
            tokio::task::yield_now().await;
        }
        release.notify_one();
        assert_eq!(first.await.unwrap(), Some(1));
        for follower in followers {
            assert_eq!(follower.await.unwrap(), Some(5), "all five in one batch");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_whose_caller_went_away_is_not_run() {
        let group = Arc::new(GroupCommit::<u32, usize>::new(100));
        let release = Arc::new(tokio::sync::Notify::new());
        let started = Arc::new(tokio::sync::Notify::new());
        let ran = Arc::new(Mutex::new(Vec::new()));
        let run = {
            let (release, started, ran) =
                (Arc::clone(&release), Arc::clone(&started), Arc::clone(&ran));
            move |jobs: Vec<u32>| {
                let (release, started, ran) =
                    (Arc::clone(&release), Arc::clone(&started), Arc::clone(&ran));
                async move {
                    if jobs.contains(&0) {
                        started.notify_one();
                        release.notified().await;
                    }
                    ran.lock_or_recover().extend(jobs.iter().copied());
                    vec![0; jobs.len()]
                }
            }
        };
        let first = tokio::spawn({
            let (group, run) = (Arc::clone(&group), run.clone());
            async move { group.submit(0, run).await }
        });
        // Job 0's batch has been taken and is running: jobs 1 and 2 wait together for the
        // next. (Watching the writer alone is not enough: a job submitted while the leader
        // yields before taking its batch joins that batch.)
        started.notified().await;
        let cancelled = tokio::spawn({
            let (group, run) = (Arc::clone(&group), run.clone());
            async move { group.submit(1, run).await }
        });
        let kept = tokio::spawn({
            let (group, run) = (Arc::clone(&group), run.clone());
            async move { group.submit(2, run).await }
        });
        while group.pending.lock_or_recover().len() < 2 {
            tokio::task::yield_now().await;
        }
        cancelled.abort();
        assert!(cancelled.await.unwrap_err().is_cancelled());
        release.notify_one();
        assert_eq!(first.await.unwrap(), Some(0));
        assert_eq!(kept.await.unwrap(), Some(0));
        assert_eq!(*ran.lock_or_recover(), [0, 2], "job 1's caller went away");
    }

    #[tokio::test]
    async fn a_batch_that_returns_too_few_results_answers_none() {
        let group = GroupCommit::<u32, u32>::new(4);
        assert_eq!(
            group
                .submit(1, |_jobs: Vec<u32>| async { Vec::new() })
                .await,
            None
        );
    }
}
