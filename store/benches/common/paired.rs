//! The paired measurement the store's benches share: two sides of equal work in alternating
//! rounds, the median of their throughput ratio. On a shared VM criterion's groups (one side,
//! then the other) drift by more than the differences measured; alternating rounds cancel it.

use std::future::Future;
use std::time::Duration;
use tokio::runtime::Runtime;

/// Runs `ours` and `theirs` (each one round of the same work, answering its wall time) in
/// alternating order, `ROUNDS` times (default 31), and prints the median of theirs / ours (above
/// 1: ours is faster) with the range.
pub fn paired<O, OF, T, TF>(runtime: &Runtime, name: &str, ours: O, theirs: T)
where
    O: Fn() -> OF,
    OF: Future<Output = Duration>,
    T: Fn() -> TF,
    TF: Future<Output = Duration>,
{
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(31)
        .max(1);
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|round| {
            runtime.block_on(async {
                let (ours, theirs) = if round % 2 == 0 {
                    let ours = ours().await;
                    (ours, theirs().await)
                } else {
                    let theirs = theirs().await;
                    (ours().await, theirs)
                };
                theirs.as_secs_f64() / ours.as_secs_f64()
            })
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "paired {name}: {:.3} (median of {rounds} rounds, range {:.3}-{:.3})",
        ratios[rounds / 2],
        ratios[0],
        ratios[rounds - 1]
    );
}
