//! The paired measurement the store's benches share: two sides of equal work in alternating
//! rounds, the median of their throughput ratio. On a shared VM criterion's groups (one side,
//! then the other) drift by more than the differences measured; alternating rounds cancel it.
//!
//! Beside the wall time, each side's CPU time in this process (the client's work: the Redis
//! server is another process) is read from the kernel's per-thread accounting, so a difference
//! in throughput can be told from a difference in work done per call.

use std::future::Future;
use std::time::Duration;
use tokio::runtime::Runtime;

/// The CPU time this process's threads have used so far (Linux `schedstat`, in nanoseconds;
/// `None` elsewhere).
fn process_cpu() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(stat) = std::fs::read_to_string(task.ok()?.path().join("schedstat")) else {
            continue; // The thread ended meanwhile.
        };
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// One side's round: its wall time (as the side measured it) and the CPU time used meanwhile.
async fn timed<F: Future<Output = Duration>>(side: F) -> (Duration, Option<Duration>) {
    let before = process_cpu();
    let wall = side.await;
    let cpu = process_cpu()
        .zip(before)
        .map(|(after, before)| after.saturating_sub(before));
    (wall, cpu)
}

fn median(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[values.len() / 2], values[0], values[values.len() - 1])
}

/// Runs `ours` and `theirs` (each one round of the same work, answering its wall time) in
/// alternating order, `ROUNDS` times (default 31), and prints the median of theirs / ours (above
/// 1: ours is faster) with the range; and the median of their CPU times, ours / theirs (above 1:
/// ours does more work). With `PAIRED` set, only the measurements whose name contains it (or one
/// of its `|`-separated parts) run.
pub fn paired<O, OF, T, TF>(runtime: &Runtime, name: &str, ours: O, theirs: T)
where
    O: Fn() -> OF,
    OF: Future<Output = Duration>,
    T: Fn() -> TF,
    TF: Future<Output = Duration>,
{
    if std::env::var("PAIRED").is_ok_and(|only| !only.split('|').any(|part| name.contains(part))) {
        return;
    }
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(31)
        .max(1);
    let (ratios, cpu): (Vec<f64>, Vec<Option<f64>>) = (0..rounds)
        .map(|round| {
            runtime.block_on(async {
                let (ours, theirs) = if round % 2 == 0 {
                    let ours = timed(ours()).await;
                    (ours, timed(theirs()).await)
                } else {
                    let theirs = timed(theirs()).await;
                    (timed(ours()).await, theirs)
                };
                let cpu = ours.1.zip(theirs.1).map(|(o, t)| o.as_secs_f64() / t.as_secs_f64());
                (theirs.0.as_secs_f64() / ours.0.as_secs_f64(), cpu)
            })
        })
        .unzip();
    let (ratio, low, high) = median(ratios);
    let cpu = cpu
        .into_iter()
        .collect::<Option<Vec<f64>>>()
        .map_or_else(String::new, |cpu| {
            let (cpu, low, high) = median(cpu);
            format!("; CPU ours / theirs {cpu:.3} (range {low:.3}-{high:.3})")
        });
    println!("paired {name}: {ratio:.3} (median of {rounds} rounds, range {low:.3}-{high:.3}){cpu}");
}
