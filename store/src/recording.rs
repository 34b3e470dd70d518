//! What the operation being polled on this thread records while it runs (the `telemetry`
//! feature): the store's lower layers report the bytes of values they encode and decode, a
//! primitive's decisions and a call's retries here, without knowing telemetry. The record is
//! plain data lent to the thread only while its operation is polled ([`within`]), so reporting
//! writes no memory another thread reads; [`crate::telemetry`] turns it into span fields and
//! metrics when the operation ends. Without the feature every function is an empty inline
//! function.

#[cfg(feature = "telemetry")]
use std::cell::RefCell;

/// What one operation recorded.
#[cfg(feature = "telemetry")]
#[derive(Default)]
pub(crate) struct Recorded {
    /// Its decisions, in order (most operations make none, primitives one).
    pub(crate) decisions: Vec<&'static str>,
    /// Bytes of values received.
    pub(crate) bytes_in: u64,
    /// Bytes of values sent.
    pub(crate) bytes_out: u64,
    /// How many more times the call was sent (refused before it ran).
    pub(crate) retries: u32,
}

#[cfg(feature = "telemetry")]
impl Recorded {
    /// The last decision: what the span shows.
    pub(crate) fn decision(&self) -> Option<&'static str> {
        self.decisions.last().copied()
    }
}

#[cfg(feature = "telemetry")]
thread_local! {
    /// The record of the operation being polled on this thread, if one is.
    static CURRENT: RefCell<Option<Recorded>> = const { RefCell::new(None) };
}

/// Runs `poll` (one poll of an operation) with `record` as the current record; the record is
/// given back after, with what was reported meanwhile, even if `poll` panics. An operation
/// polled inside another has its own record while it is polled; the outer one's is restored.
#[cfg(feature = "telemetry")]
pub(crate) fn within<T>(record: &mut Recorded, poll: impl FnOnce() -> T) -> T {
    let outer = CURRENT.with(|current| current.replace(Some(std::mem::take(record))));
    let _restore = Restore { record, outer };
    poll()
}

/// Gives the record back to its operation and the thread's previous one back to the thread.
#[cfg(feature = "telemetry")]
struct Restore<'r> {
    record: &'r mut Recorded,
    outer: Option<Recorded>,
}

#[cfg(feature = "telemetry")]
impl Drop for Restore<'_> {
    fn drop(&mut self) {
        // `try_with`: a drop must not panic, even while the thread is ending.
        if let Ok(Some(mine)) = CURRENT.try_with(|current| current.replace(self.outer.take())) {
            *self.record = mine;
        }
    }
}

/// Changes the current operation's record, if an operation is being polled.
#[cfg(feature = "telemetry")]
fn report(change: impl FnOnce(&mut Recorded)) {
    let _ = CURRENT.try_with(|current| {
        if let Some(record) = current.borrow_mut().as_mut() {
            change(record);
        }
    });
}

/// Records what a primitive decided on the current operation.
#[inline]
pub(crate) fn decision(decision: &'static str) {
    #[cfg(feature = "telemetry")]
    report(|record| record.decisions.push(decision));
    #[cfg(not(feature = "telemetry"))]
    let _ = decision;
}

/// Counts `n` bytes of values sent by the current operation.
#[inline]
pub(crate) fn bytes_out(n: usize) {
    #[cfg(feature = "telemetry")]
    report(|record| record.bytes_out += n as u64);
    #[cfg(not(feature = "telemetry"))]
    let _ = n;
}

/// Counts `n` bytes of values received by the current operation.
#[inline]
pub(crate) fn bytes_in(n: usize) {
    #[cfg(feature = "telemetry")]
    report(|record| record.bytes_in += n as u64);
    #[cfg(not(feature = "telemetry"))]
    let _ = n;
}

/// Records that the current operation was sent `retries` more times (refused before it ran).
#[inline]
pub(crate) fn retried(retries: u32) {
    #[cfg(feature = "telemetry")]
    report(|record| record.retries = retries);
    #[cfg(not(feature = "telemetry"))]
    let _ = retries;
}

#[cfg(all(test, feature = "telemetry"))]
mod tests {
    use super::{bytes_in, bytes_out, decision, retried, within, Recorded};

    #[test]
    fn what_is_reported_while_an_operation_is_polled_goes_to_its_record() {
        let mut record = Recorded::default();
        bytes_out(7); // No operation is polled: nowhere to go, and no panic.
        within(&mut record, || {
            bytes_out(3);
            bytes_in(5);
            decision("acquired");
            retried(2);
        });
        within(&mut record, || bytes_out(4)); // A second poll adds to the same record.
        assert_eq!((record.bytes_out, record.bytes_in, record.retries), (7, 5, 2));
        assert_eq!(record.decisions, ["acquired"]);
        bytes_out(100); // Between polls: not the operation's.
        assert_eq!(record.bytes_out, 7);
    }

    #[test]
    fn an_operation_polled_inside_another_has_its_own_record_and_the_outer_one_comes_back() {
        let (mut outer, mut inner) = (Recorded::default(), Recorded::default());
        within(&mut outer, || {
            decision("outer");
            within(&mut inner, || decision("inner"));
            bytes_out(1);
        });
        assert_eq!(outer.decisions, ["outer"]);
        assert_eq!(outer.bytes_out, 1);
        assert_eq!(inner.decisions, ["inner"]);
    }

    #[test]
    fn a_poll_that_panics_gives_the_record_back_and_leaves_no_record_current() {
        let mut record = Recorded::default();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            within(&mut record, || {
                decision("before the panic");
                panic!("the operation panicked");
            })
        }));
        assert!(panicked.is_err());
        assert_eq!(record.decisions, ["before the panic"]);
        decision("after"); // Reported to no operation.
        assert_eq!(record.decisions, ["before the panic"]);
    }
}
