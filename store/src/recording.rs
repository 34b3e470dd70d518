//! The operation being recorded on this task (the `telemetry` feature): what the store's lower
//! layers report while an operation runs (the bytes of values encoded and decoded, a primitive's
//! decision, retries) goes to it, without those layers knowing telemetry. Without the feature
//! every function is an empty inline function.

#[cfg(feature = "telemetry")]
use std::future::Future;
#[cfg(feature = "telemetry")]
use std::sync::Arc;

/// What an operation records while it runs ([`crate::telemetry`] implements it).
#[cfg(feature = "telemetry")]
pub(crate) trait Recording: Send + Sync {
    /// A primitive's decision (`acquired`, `limited`, `hit`...).
    fn decided(&self, decision: &'static str);
    /// Bytes of values received.
    fn bytes_in(&self, n: usize);
    /// Bytes of values sent.
    fn bytes_out(&self, n: usize);
}

/// The operation running on a task: what it counts into, and what is recorded on its span
/// when it ends.
#[cfg(feature = "telemetry")]
struct Current {
    recording: Arc<dyn Recording>,
    decision: std::cell::Cell<Option<&'static str>>,
    retries: std::cell::Cell<u32>,
}

#[cfg(feature = "telemetry")]
tokio::task_local! {
    /// The operation running on this task.
    static CURRENT: Current;
}

/// What an operation recorded for its span: the last decision, and its retries.
#[cfg(feature = "telemetry")]
pub(crate) struct Recorded {
    pub(crate) decision: Option<&'static str>,
    pub(crate) retries: u32,
}

/// Runs `future` with `recording` as the current operation; answers its output and what it
/// recorded.
#[cfg(feature = "telemetry")]
pub(crate) async fn scope<F: Future>(recording: Arc<dyn Recording>, future: F) -> (F::Output, Recorded) {
    let current = Current {
        recording,
        decision: std::cell::Cell::new(None),
        retries: std::cell::Cell::new(0),
    };
    CURRENT
        .scope(current, async {
            let output = future.await;
            let recorded = CURRENT.with(|current| Recorded {
                decision: current.decision.get(),
                retries: current.retries.get(),
            });
            (output, recorded)
        })
        .await
}

/// Records what a primitive decided on the current operation.
#[inline]
pub(crate) fn decision(decision: &'static str) {
    #[cfg(feature = "telemetry")]
    let _ = CURRENT.try_with(|current| {
        current.recording.decided(decision);
        current.decision.set(Some(decision));
    });
    #[cfg(not(feature = "telemetry"))]
    let _ = decision;
}

/// Counts `n` bytes of values sent by the current operation.
#[inline]
pub(crate) fn bytes_out(n: usize) {
    #[cfg(feature = "telemetry")]
    let _ = CURRENT.try_with(|current| current.recording.bytes_out(n));
    #[cfg(not(feature = "telemetry"))]
    let _ = n;
}

/// Counts `n` bytes of values received by the current operation.
#[inline]
pub(crate) fn bytes_in(n: usize) {
    #[cfg(feature = "telemetry")]
    let _ = CURRENT.try_with(|current| current.recording.bytes_in(n));
    #[cfg(not(feature = "telemetry"))]
    let _ = n;
}

/// Records that the current operation was sent `retries` more times (refused before it ran).
#[inline]
pub(crate) fn retried(retries: u32) {
    #[cfg(feature = "telemetry")]
    let _ = CURRENT.try_with(|current| current.retries.set(retries));
    #[cfg(not(feature = "telemetry"))]
    let _ = retries;
}
