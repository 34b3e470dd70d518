//! What the operation running on this task records while it runs (the `telemetry` feature): the
//! store's lower layers report the bytes of values they encode and decode, a primitive's
//! decisions and a call's retries here, without knowing telemetry. The record is plain data kept
//! by the task (no reference to shared state, so reporting writes no memory another thread
//! reads); [`crate::telemetry`] turns it into span fields and metrics when the operation ends.
//! Without the feature every function is an empty inline function.

#[cfg(feature = "telemetry")]
use std::cell::{Cell, RefCell};
#[cfg(feature = "telemetry")]
use std::future::Future;

/// What one operation recorded.
#[cfg(feature = "telemetry")]
#[derive(Default)]
pub(crate) struct Recorded {
    /// Its decisions, in order (most operations make none, primitives one).
    pub(crate) decisions: RefCell<Vec<&'static str>>,
    /// Bytes of values received.
    pub(crate) bytes_in: Cell<u64>,
    /// Bytes of values sent.
    pub(crate) bytes_out: Cell<u64>,
    /// How many more times the call was sent (refused before it ran).
    pub(crate) retries: Cell<u32>,
}

#[cfg(feature = "telemetry")]
impl Recorded {
    /// The last decision: what the span shows.
    pub(crate) fn decision(&self) -> Option<&'static str> {
        self.decisions.borrow().last().copied()
    }
}

#[cfg(feature = "telemetry")]
tokio::task_local! {
    /// The operation running on this task.
    static CURRENT: Recorded;
}

/// Runs `future` as the current operation; answers its output and what it recorded.
#[cfg(feature = "telemetry")]
pub(crate) async fn scope<F: Future>(future: F) -> (F::Output, Recorded) {
    CURRENT
        .scope(Recorded::default(), async {
            let output = future.await;
            (output, CURRENT.with(Recorded::take_from))
        })
        .await
}

#[cfg(feature = "telemetry")]
impl Recorded {
    /// Moves the record out, leaving an empty one (for the scope's last read).
    fn take_from(&self) -> Self {
        Self {
            decisions: RefCell::new(self.decisions.take()),
            bytes_in: Cell::new(self.bytes_in.get()),
            bytes_out: Cell::new(self.bytes_out.get()),
            retries: Cell::new(self.retries.get()),
        }
    }
}

/// Records what a primitive decided on the current operation.
#[inline]
pub(crate) fn decision(decision: &'static str) {
    #[cfg(feature = "telemetry")]
    let _ = CURRENT.try_with(|current| current.decisions.borrow_mut().push(decision));
    #[cfg(not(feature = "telemetry"))]
    let _ = decision;
}

/// Counts `n` bytes of values sent by the current operation.
#[inline]
pub(crate) fn bytes_out(n: usize) {
    #[cfg(feature = "telemetry")]
    let _ = CURRENT.try_with(|current| current.bytes_out.set(current.bytes_out.get() + n as u64));
    #[cfg(not(feature = "telemetry"))]
    let _ = n;
}

/// Counts `n` bytes of values received by the current operation.
#[inline]
pub(crate) fn bytes_in(n: usize) {
    #[cfg(feature = "telemetry")]
    let _ = CURRENT.try_with(|current| current.bytes_in.set(current.bytes_in.get() + n as u64));
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
