//! The shared-stream tables: 1 to `PLBA_BENCH_PROCESSES` (default 3) processes, each this
//! bench run again as a child, consuming one stream together — each a RedisQueue →
//! QueueWorker ×3 pool (defaults), or the raw batched consumers ×3 as the baseline with the
//! same number of processes. Live (this process publishes while they consume) and draining
//! (a backlog filled before they start). Each row prints Redis's own CPU time per second of
//! the run — near 1.0, Redis, single-threaded, is the limit and more processes cannot add
//! capacity — and everyone's (Redis, this process and the children): near the number of
//! cores, the machine is.
//!
//! A child connects, says `ready` on stdout, starts consuming when it reads `go` on stdin,
//! and ends when its stdin closes. The run is timed from `go` until Redis counts every task
//! acked (polled every `POLL`), so a row includes no process start-up.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plba_bench_peers::CONSUMERS;
use plba_contracts::TaskQueue;
use plba_redis::RedisQueue;
use plba_testkit::bench::{Finish, median};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// What a child is to be: `queue` or `raw`.
const ROLE_ENV: &str = "PLBA_BENCH_ROLE";
const URL_ENV: &str = "PLBA_BENCH_REDIS_URL";
const STREAM_ENV: &str = "PLBA_BENCH_STREAM";

/// How often the parent asks Redis whether every task is acked: a few hundred cheap
/// commands a second against the 100,000s the consumers send, and a run's end known to
/// within 2 ms.
const POLL: Duration = Duration::from_millis(2);

/// Longest a child gets to connect, and a run to finish, before the row says it failed.
const PATIENCE: Duration = Duration::from_secs(120);

/// Who consumes in a process.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// RedisQueue → QueueWorker ×3 with the queue's defaults.
    Queue,
    /// The raw batched consumers ×3 (`XREADGROUP COUNT 16`, one `XACK` per read).
    Raw,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Self::Queue => "queue",
            Self::Raw => "raw",
        }
    }
}

/// In a child process (`PLBA_BENCH_ROLE` set), consumes as told and returns `Ok(true)` when
/// its stdin closes; `Ok(false)` in the bench's own process.
pub(crate) fn child() -> anyhow::Result<bool> {
    let role = match std::env::var(ROLE_ENV).ok().as_deref() {
        None => return Ok(false),
        Some("queue") => Role::Queue,
        Some("raw") => Role::Raw,
        Some(other) => anyhow::bail!("{ROLE_ENV}={other:?} is neither queue nor raw"),
    };
    let url = std::env::var(URL_ENV)?;
    let stream = std::env::var(STREAM_ENV)?;
    // Each process as deployed: its own runtime with 2 worker threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let queue = match role {
            Role::Queue => Some(crate::connect(&url, &stream).await?),
            Role::Raw => None,
        };
        println!("ready");
        anyhow::ensure!(
            lines.next_line().await?.as_deref() == Some("go"),
            "the bench did not say go"
        );
        let stop = match &queue {
            Some(queue) => Some(crate::queue_pool(queue, &Finish::new(u64::MAX))),
            None => {
                plba_bench_peers::consume_shared(&url, &stream).await?;
                None
            }
        };
        // Until the bench closes stdin, once it has seen every task acked.
        while lines.next_line().await?.is_some() {}
        if let Some(stop) = stop {
            stop.cancel();
        }
        anyhow::Ok(())
    })?;
    Ok(true)
}

/// The children of one run, started and told to go together.
struct Processes {
    children: Vec<Child>,
    inputs: Vec<ChildStdin>,
}

impl Processes {
    /// Starts `count` children as `role` on `stream`, each connected and waiting for `go`.
    async fn start(count: usize, role: Role, url: &str, stream: &str) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut children = Vec::with_capacity(count);
        let mut inputs = Vec::with_capacity(count);
        for _ in 0..count {
            let mut child = Command::new(&exe)
                .arg("--bench")
                .env(ROLE_ENV, role.name())
                .env(URL_ENV, url)
                .env(STREAM_ENV, stream)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()?;
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| anyhow::anyhow!("a child has no stdout"))?;
            let ready = async { BufReader::new(stdout).lines().next_line().await };
            let line = tokio::time::timeout(PATIENCE, ready).await??;
            anyhow::ensure!(
                line.as_deref() == Some("ready"),
                "a {} child said {line:?} instead of ready",
                role.name()
            );
            inputs.push(
                child
                    .stdin
                    .take()
                    .ok_or_else(|| anyhow::anyhow!("a child has no stdin"))?,
            );
            children.push(child);
        }
        Ok(Self { children, inputs })
    }

    async fn go(&mut self) -> anyhow::Result<()> {
        for input in &mut self.inputs {
            input.write_all(b"go\n").await?;
            input.flush().await?;
        }
        Ok(())
    }

    /// Closes every child's stdin and waits for each to end.
    async fn finish(mut self) -> anyhow::Result<()> {
        self.inputs.clear();
        for child in &mut self.children {
            let status = tokio::time::timeout(PATIENCE, child.wait()).await??;
            anyhow::ensure!(status.success(), "a child ended with {status}");
        }
        Ok(())
    }
}

/// One measured run: its rate, and Redis's and everyone's CPU seconds per second of it.
struct Measured {
    rate: f64,
    redis_load: f64,
    machine_load: f64,
}

/// CPU time this process and its ended children have used (`/proc/self/stat`: utime,
/// stime, cutime, cstime, in the kernel's 100 ticks a second).
fn own_and_children_cpu() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The fields after the command name, which may hold spaces, start after its `)`.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("/proc/self/stat has no command name"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime is field 14 of the whole line, the 12th after the name.
    let ticks: u64 = fields
        .get(11..15)
        .ok_or_else(|| anyhow::anyhow!("/proc/self/stat is too short"))?
        .iter()
        .map(|field| field.parse::<u64>())
        .sum::<Result<_, _>>()?;
    Ok(Duration::from_millis(ticks * 10))
}

/// `processes` children of `role` consuming `total` tasks on a fresh stream, published
/// live from here or (`backlog`) beforehand.
async fn run(
    url: &str,
    stream: &str,
    role: Role,
    processes: usize,
    total: u64,
    backlog: bool,
) -> anyhow::Result<Measured> {
    let client = redis::Client::open(url)?;
    let mut commands = client.get_multiplexed_async_connection().await?;
    let queue = match role {
        Role::Queue => Some(crate::connect(url, stream).await?),
        Role::Raw => None,
    };
    let publish = async |queue: Option<&Arc<RedisQueue>>| match queue {
        Some(queue) => crate::publish_burst(queue, total).await,
        None => Ok(plba_bench_peers::fill_shared(url, stream, total).await?),
    };
    if role == Role::Raw {
        // The group exists before any child reads, whichever publishes first.
        plba_bench_peers::fill_shared(url, stream, 0).await?;
    }
    if backlog {
        publish(queue.as_ref()).await?;
    }
    let ours_before = own_and_children_cpu()?;
    let mut children = Processes::start(processes, role, url, stream).await?;
    let cpu_before = plba_bench_peers::redis_cpu(&mut commands).await?;
    let started = Instant::now();
    children.go().await?;
    let timed = async {
        if !backlog {
            publish(queue.as_ref()).await?;
        }
        loop {
            let done = match &queue {
                Some(queue) => queue.stats().await?.acked >= total,
                None => plba_bench_peers::all_consumed(&mut commands, stream, total).await?,
            };
            if done {
                return anyhow::Ok(started.elapsed());
            }
            tokio::time::sleep(POLL).await;
        }
    };
    let elapsed = tokio::time::timeout(PATIENCE, timed)
        .await
        .map_err(|_| anyhow::anyhow!("not every task was acked within {PATIENCE:?}"))??;
    let cpu = plba_bench_peers::redis_cpu(&mut commands)
        .await?
        .saturating_sub(cpu_before);
    children.finish().await?;
    // The children's whole lives (their start-up too) and this process's publishing.
    let ours = own_and_children_cpu()?.saturating_sub(ours_before);
    Ok(Measured {
        rate: total as f64 / elapsed.as_secs_f64(),
        redis_load: cpu.as_secs_f64() / elapsed.as_secs_f64(),
        machine_load: (ours + cpu).as_secs_f64() / elapsed.as_secs_f64(),
    })
}

/// The runs of one row.
#[derive(Default)]
struct Row {
    rates: Vec<f64>,
    loads: Vec<f64>,
    machine: Vec<f64>,
    failure: Option<String>,
}

/// Measures and prints both tables for 1 to `max` processes, `runs` times each.
pub(crate) async fn tables(url: &str, total: u64, backlog: u64, max: usize, runs: u64) {
    for (live, tasks) in [(true, total), (false, backlog)] {
        let mut rows: Vec<(usize, Role, Row)> = Vec::new();
        for processes in 1..=max {
            for role in [Role::Raw, Role::Queue] {
                rows.push((processes, role, Row::default()));
            }
        }
        for run_index in 0..runs {
            for (processes, role, row) in &mut rows {
                let stream = format!(
                    "shared-{}-{}-{processes}-{run_index}",
                    if live { "live" } else { "drain" },
                    role.name()
                );
                match run(url, &stream, *role, *processes, tasks, !live).await {
                    Ok(measured) => {
                        row.rates.push(measured.rate);
                        row.loads.push(measured.redis_load);
                        row.machine.push(measured.machine_load);
                    }
                    Err(error) => {
                        row.failure.get_or_insert(format!("{error:#}"));
                    }
                }
            }
        }
        println!();
        if live {
            println!(
                "{tasks} tasks published live by this process, consumed by processes sharing the stream ({CONSUMERS} consumers each):"
            );
        } else {
            println!(
                "A backlog of {tasks} tasks drained by processes sharing the stream ({CONSUMERS} consumers each):"
            );
        }
        println!();
        print_table(&rows);
    }
}

fn print_table(rows: &[(usize, Role, Row)]) {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let rate = |processes: usize, role: Role| {
        rows.iter()
            .find(|(p, r, _)| *p == processes && *r == role)
            .map_or(f64::NAN, |(_, _, row)| median(&row.rates))
    };
    println!(
        "| processes | path | median tasks/s | min | max | vs 1 process | vs raw, same processes | Redis CPU s per s | all CPU s per s (cores: {cores}) |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for (processes, role, row) in rows {
        let path = match role {
            Role::Raw => "raw: XREADGROUP COUNT 16 / XACK per read, ×3",
            Role::Queue => "RedisQueue → QueueWorker ×3 (defaults)",
        };
        if let Some(failure) = &row.failure {
            let failure: String = failure.replace('|', "/").chars().take(160).collect();
            println!("| {processes} | {path} — failed: {failure} | – | | | | | | |");
            continue;
        }
        let min = row.rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = row.rates.iter().copied().fold(0.0, f64::max);
        let median_rate = median(&row.rates);
        println!(
            "| {processes} | {path} | {median_rate:.0} | {min:.0} | {max:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            median_rate / rate(1, *role),
            median_rate / rate(*processes, Role::Raw),
            median(&row.loads),
            median(&row.machine),
        );
    }
}
