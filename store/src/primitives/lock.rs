//! Locks and leader leases (`lock` keys): `SET key token NX PX ttl` with a random owner token,
//! extended and released only by a script that compares the token, renewed in the background at
//! a third of the TTL, with a fencing token from the lock's counter issued on first use and a
//! lost-lease signal.

use super::renewal::{Renewable, Renewals, Ticket};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::policy::KeyId;
use crate::recording;
use crate::script::StoredScript;
use crate::telemetry::{self, op, Op};
use crate::transaction::Fence;
use crate::util::{jittered, millis, owner_token};
use crate::write::Write;
use keyschema::Companion;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, OnceCell};
use tokio::time::Instant;

/// Issues the fencing token of a held lock, if the caller still owns it: the counter plus one,
/// or 0 when the lock is another's or gone. A counter that did not exist (new, or expired a day
/// after the last token) starts at the server's clock in microseconds, above every token it
/// issued before; so its TTL need not be refreshed on every token.
pub const FENCE_SOURCE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local fence = redis.call('INCR', KEYS[2])
if fence == 1 then
  local now = redis.call('TIME')
  fence = tonumber(now[1]) * 1000000 + tonumber(now[2])
  redis.call('SET', KEYS[2], string.format('%.0f', fence), 'PX', ARGV[2])
end
return fence
";
static FENCE: LazyLock<StoredScript> = LazyLock::new(|| StoredScript::new(FENCE_SOURCE));

/// Sets the TTL again if the caller still owns the lock: 1, or 0 when it does not.
pub const EXTEND_SOURCE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";
static EXTEND: LazyLock<StoredScript> = LazyLock::new(|| StoredScript::new(EXTEND_SOURCE));

/// Deletes the lock if the caller still owns it: 1, or 0 when it does not.
pub const RELEASE_SOURCE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";
static RELEASE: LazyLock<StoredScript> = LazyLock::new(|| StoredScript::new(RELEASE_SOURCE));

/// Work under a lock or lease did not complete because the lock was lost (a renewal failed or
/// found another owner, or its TTL passed without one); says whether the work ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LeaseLost {
    /// The lock was already lost when the work was to start: the work never ran.
    #[error("the lease was lost before the work started; the work did not run")]
    BeforeWork,
    /// The lock was lost while the work ran: the work was cancelled at an await point.
    #[error("the lease was lost while the work ran; the work was cancelled")]
    DuringWork,
}

/// A held lock or lease: the owner token, the fence once issued and the renewal state. One
/// allocation shared by the guard, the work's handles and the store's renewal queue
/// ([`super::renewal`]); its owner (the guard, the lease) marks it released.
pub(crate) struct Held {
    pub(crate) core: Core,
    id: KeyId,
    pub(crate) key: String,
    /// During a layout change, the previous layout's key, held with the same token.
    twin: Option<String>,
    pub(crate) token: String,
    pub(crate) ttl: Duration,
    fence: OnceCell<Fence>,
    /// Set once, when a renewal fails or finds another owner; `lost_signal` then wakes waiters.
    lost: AtomicBool,
    lost_signal: Notify,
    /// Until when the lock is certainly held: when the last successful renewal started, plus the
    /// TTL. Past it, the holder must assume another may hold it.
    valid_until: Mutex<Instant>,
    /// Released (or its owner dropped): renewals stop.
    released: AtomicBool,
    /// Its place in the store's renewal register.
    ticket: Ticket,
}

impl Held {
    /// The lock just taken as `token` at `acquired_at`, its first renewal queued.
    fn start(taken: &LockKey<'_>, token: String, acquired_at: Instant) -> Arc<Self> {
        let renewals = taken.core.extension::<Renewals<Self>>();
        renewals.register(acquired_at + taken.ttl / 3, |ticket| {
            Arc::new(Self {
                core: taken.core.clone(),
                id: taken.id,
                key: taken.key.clone(),
                twin: taken.previous.clone(),
                token,
                ttl: taken.ttl,
                fence: OnceCell::new(),
                lost: AtomicBool::new(false),
                lost_signal: Notify::new(),
                valid_until: Mutex::new(acquired_at + taken.ttl),
                released: AtomicBool::new(false),
                ticket,
            })
        })
    }

    fn valid_until(&self) -> Instant {
        // A poisoned lock only means a renewal panicked after storing an Instant: still valid.
        *self
            .valid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stops its renewals (once: a second call does nothing).
    fn mark_released(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.core.extension::<Renewals<Self>>().deregister(self.ticket);
        }
    }

    fn renewed(&self, valid_until: Instant) {
        *self
            .valid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = valid_until;
    }

    fn lose(&self) {
        self.lost.store(true, Ordering::Release);
        self.lost_signal.notify_waiters();
    }

    /// This term's fencing token: issued by the first call, the same one afterwards.
    async fn fence(&self) -> Result<&Fence> {
        self.fence
            .get_or_try_init(|| {
                telemetry::observe(
                    &self.core,
                    Op::on(self.id, op!("FENCE")).at(&self.key),
                    self.issue_fence(),
                )
            })
            .await
    }

    /// Issues this term's fencing token ([`Held::fence`]).
    async fn issue_fence(&self) -> Result<Fence> {
        let core = &self.core;
        let policy = core.policy(self.id);
        let counter = policy.companion_key(&self.key, Companion::Fence);
        let counter_ttl = policy
            .companion(Companion::Fence)
            .and_then(|fence| core.ttl_of(fence))
            .unwrap_or(Duration::from_secs(86_400));
        let reply = core
            .run_script(
                &FENCE
                    .call(&[&self.key, &counter])
                    .arg(&self.token)
                    .arg(millis(counter_ttl)),
                &self.key,
            )
            .await?;
        match reply {
            redis::Value::Int(token) if token > 0 => Ok(Fence {
                counter,
                // Positive, so it fits.
                token: token.unsigned_abs(),
                lock: self.id,
                lock_key: self.key.clone(),
            }),
            redis::Value::Int(_) => Err(Error::LockNotHeld { key: self.key.clone() }),
            other => Err(Error::unexpected(&self.key, "EVALSHA", &other)),
        }
    }

    fn is_held(&self) -> bool {
        !self.lost.load(Ordering::Acquire) && Instant::now() < self.valid_until()
    }

    async fn lost(&self) {
        loop {
            // Registered before the flag is read, so a `lose` in between is not missed.
            let signal = self.lost_signal.notified();
            if self.lost.load(Ordering::Acquire) {
                return;
            }
            let deadline = self.valid_until();
            if Instant::now() >= deadline {
                return;
            }
            tokio::select! {
                () = signal => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    async fn run<T>(&self, work: impl Future<Output = T>) -> Result<T, LeaseLost> {
        if !self.is_held() {
            return Err(LeaseLost::BeforeWork);
        }
        tokio::select! {
            biased;
            () = self.lost() => Err(LeaseLost::DuringWork),
            value = work => Ok(value),
        }
    }

    /// Stops renewing and deletes the key if it is still ours.
    async fn release(&self) -> Result<bool> {
        self.mark_released();
        telemetry::observe(&self.core, Op::on(self.id, op!("UNLOCK")).at(&self.key), async {
            let mut released = release_if_owner(&self.core, &self.key, &self.token).await?;
            if let Some(twin) = &self.twin {
                released &= release_if_owner(&self.core, twin, &self.token).await?;
            }
            recording::decision(if released { "released" } else { "not_owner" });
            Ok(released)
        })
        .await
    }

    /// Extends the lock (and its twin) if still ours.
    async fn extend(&self) -> Result<bool> {
        let mut extended = extend_if_owner(&self.core, &self.key, &self.token, self.ttl).await?;
        if let Some(twin) = &self.twin {
            extended &= extend_if_owner(&self.core, twin, &self.token, self.ttl).await?;
        }
        Ok(extended)
    }
}

impl Renewable for Held {
    fn is_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }

    /// Extends the lock if it is still ours: on success queues the next renewal at a third of
    /// the TTL, otherwise signals it lost.
    async fn renew(self: Arc<Self>) {
        let started = Instant::now();
        let extended = self.extend().await;
        if self.is_released() {
            return;
        }
        if matches!(extended, Ok(true)) {
            self.renewed(started + self.ttl);
            self.core
                .extension::<Renewals<Self>>()
                .schedule(self.ticket, started + self.ttl / 3);
        } else {
            telemetry::lease_lost(&self.core, self.id);
            self.lose();
        }
    }
}

/// The key, its TTL, and how to take it: shared by [`Lock`] and [`Lease`].
struct LockKey<'s> {
    core: &'s Core,
    id: KeyId,
    key: String,
    ttl: Duration,
    /// During a layout change, the previous layout's key: taken first, and held with the new
    /// one, so an instance of either version holding it excludes the other.
    previous: Option<String>,
}

impl<'s> LockKey<'s> {
    fn new(core: &'s Core, id: KeyId, key: String) -> Self {
        // The schema refuses a lock without a TTL; a minute is a safe bound should one appear.
        let ttl = core.ttl_of(id).unwrap_or(Duration::from_secs(60));
        Self {
            core,
            id,
            key,
            ttl,
            previous: None,
        }
    }

    /// One attempt, one round trip: the held lock, or `None` when another holds it.
    async fn try_take(&self) -> Result<Option<Arc<Held>>> {
        telemetry::observe(self.core, Op::on(self.id, op!("LOCK")).at(&self.key), async {
            let taken = self.take_once().await;
            if let Ok(taken) = &taken {
                recording::decision(if taken.is_some() { "acquired" } else { "busy" });
            }
            taken
        })
        .await
    }

    /// One attempt of [`LockKey::try_take`].
    async fn take_once(&self) -> Result<Option<Arc<Held>>> {
        let token = owner_token();
        let started = Instant::now();
        if let Some(previous) = &self.previous {
            // The old key first, as the previous version takes it; then the new one.
            if !self.take_key(previous, &token).await? {
                return Ok(None);
            }
            if !self.take_key(&self.key, &token).await? {
                release_if_owner(self.core, previous, &token).await?;
                return Ok(None);
            }
            return Ok(Some(Held::start(self, token, started)));
        }
        if !self.take_key(&self.key, &token).await? {
            return Ok(None);
        }
        Ok(Some(Held::start(self, token, started)))
    }

    /// `SET key token NX PX ttl`: whether it was taken.
    async fn take_key(&self, key: &str, token: &str) -> Result<bool> {
        let write = Write::set_if_absent(key, token.as_bytes().to_vec(), Some(self.ttl));
        Ok(!matches!(self.core.apply(&write).await?, redis::Value::Nil))
    }

    /// How long the current holder's TTL still runs (zero when the lock is free again).
    async fn remaining(&self) -> Result<Duration> {
        let mut pttl = redis::cmd("PTTL");
        pttl.arg(&self.key);
        let remaining: i64 = self.core.read_primary(&pttl, &self.key, "PTTL").await?;
        Ok(Duration::from_millis(u64::try_from(remaining).unwrap_or(0)))
    }

    /// Attempts until taken or `wait` has passed, backing off (10 ms doubling to 200 ms, never
    /// past the holder's remaining TTL) with jitter.
    async fn take(&self, wait: Duration) -> Result<Arc<Held>> {
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(10);
        loop {
            if let Some(held) = self.try_take().await? {
                return Ok(held);
            }
            if Instant::now() >= deadline {
                return Err(Error::NotAcquired {
                    key: self.key.clone(),
                    waited: wait,
                });
            }
            let remaining = self.remaining().await?;
            let sleep = jittered(pause.min(remaining.max(Duration::from_millis(1))));
            let now = Instant::now();
            tokio::time::sleep(sleep.min(deadline.saturating_duration_since(now))).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }
}

/// A lock taken for a piece of work and released after it (`lock PATTERN ttl 60s`): a job's
/// processing lock, the snapshot writer, the DLQ cleanup. While held it is renewed in the
/// background; [`LockGuard::lost`] fires if that fails.
///
/// ```no_run
/// # async fn demo(lock: keyschema_store::Lock<'_>) -> keyschema_store::Result<()> {
/// use std::time::Duration;
/// let token = lock
///     .with_lock(Duration::from_secs(5), |held| async move {
///         // Work here; guarded writes take the fence, issued on first use.
///         let fence = held.fence().await?;
///         Ok::<_, keyschema_store::Error>(fence.token())
///     })
///     .await??;
/// # Ok(()) }
/// ```
pub struct Lock<'s> {
    inner: LockKey<'s>,
}

impl<'s> Lock<'s> {
    /// The lock at `key`, an instance of key definition `id` (generated code).
    pub fn new(core: &'s Core, id: KeyId, key: String) -> Self {
        Self {
            inner: LockKey::new(core, id, key),
        }
    }

    /// The formatted key.
    pub fn key(&self) -> &str {
        &self.inner.key
    }

    /// The same lock, during a layout change also taken on `previous`, the previous
    /// layout's key (generated code): the old key first, then the new one, both with one token,
    /// renewed and released together, so instances of the two versions never both hold it.
    /// Fencing tokens come from the new key's counter. `None`: not bridged.
    #[doc(hidden)]
    #[must_use]
    pub fn bridged(mut self, previous: Option<String>) -> Self {
        self.inner.previous = previous;
        self
    }

    /// Takes the lock if it is free, in one round trip (`SET NX PX`).
    pub async fn try_acquire(&self) -> Result<Option<LockGuard>> {
        Ok(self.inner.try_take().await?.map(|held| LockGuard { held: Some(held) }))
    }

    /// Takes the lock, waiting for it at most `wait` ([`Error::NotAcquired`] then).
    pub async fn acquire(&self, wait: Duration) -> Result<LockGuard> {
        Ok(LockGuard {
            held: Some(self.inner.take(wait).await?),
        })
    }

    /// Takes the lock (waiting at most `wait`), runs `work` with a handle on it (its fence, its
    /// state), and releases the lock on every path: when the work ends, when it panics (the
    /// guard's drop releases), and when this future is dropped. If the lock is lost while the
    /// work runs, the work is cancelled and the answer is [`Error::LockLost`] (lost before the
    /// work started: [`Error::LockNotHeld`], and the work did not run).
    pub async fn with_lock<F, Fut, T>(&self, wait: Duration, work: F) -> Result<T>
    where
        F: FnOnce(HeldLock) -> Fut,
        Fut: Future<Output = T>,
    {
        let guard = self.acquire(wait).await?;
        let outcome = guard.run(work(guard.handle())).await;
        // A failed release leaves the lock to its TTL; the work's outcome still stands.
        let _ = guard.release().await;
        let key = self.inner.key.clone();
        outcome.map_err(|lost| match lost {
            LeaseLost::BeforeWork => Error::LockNotHeld { key },
            LeaseLost::DuringWork => Error::LockLost { key },
        })
    }
}

/// A held [`Lock`]: released by [`LockGuard::release`], or when dropped (in the background;
/// outside a tokio runtime the lock expires after its TTL instead).
pub struct LockGuard {
    held: Option<Arc<Held>>,
}

impl LockGuard {
    fn held(&self) -> &Arc<Held> {
        // `held` is only taken by `release`, which consumes the guard.
        self.held.as_ref().expect("a guard holds its lock until released")
    }

    /// The fencing token of this acquisition: issued by the first call (one round trip, a script
    /// that checks the lock is still ours: [`Error::LockNotHeld`] otherwise), the same afterwards.
    pub async fn fence(&self) -> Result<&Fence> {
        self.held().fence().await
    }

    /// A handle on the held lock for work running under it (its fence, its state); it does not
    /// keep the lock: the guard releases it.
    pub fn handle(&self) -> HeldLock {
        HeldLock {
            held: Arc::clone(self.held()),
        }
    }

    /// Whether the lock is still held as far as this process knows: no renewal has failed and
    /// the TTL from the last successful one has not passed.
    pub fn is_held(&self) -> bool {
        self.held().is_held()
    }

    /// Resolves when the lock is lost: a renewal failed or found another owner, or the TTL from
    /// the last successful renewal passed.
    pub async fn lost(&self) {
        self.held().lost().await;
    }

    /// Runs `work` while the lock is held; cancels it and answers [`LeaseLost::DuringWork`] if
    /// the lock is lost first, or [`LeaseLost::BeforeWork`] without starting it if the lock is
    /// already lost.
    pub async fn run<T>(&self, work: impl Future<Output = T>) -> Result<T, LeaseLost> {
        self.held().run(work).await
    }

    /// Releases the lock; whether it was still ours (false: it had expired, and perhaps another
    /// holder has it).
    pub async fn release(mut self) -> Result<bool> {
        match self.held.take() {
            Some(held) => held.release().await,
            None => Ok(false),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let Some(held) = self.held.take() else { return };
        held.mark_released();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = held.release().await;
            });
        }
    }
}

/// A held lock as the work under [`Lock::with_lock`] sees it: the fencing token, issued on first
/// use, and whether the lock is still held. Cheap to clone; it does not keep the lock.
#[derive(Clone)]
pub struct HeldLock {
    held: Arc<Held>,
}

impl HeldLock {
    /// The fencing token of this acquisition ([`LockGuard::fence`]).
    pub async fn fence(&self) -> Result<&Fence> {
        self.held.fence().await
    }

    /// Whether the lock is still held as far as this process knows ([`LockGuard::is_held`]).
    pub fn is_held(&self) -> bool {
        self.held.is_held()
    }

    /// Resolves when the lock is lost ([`LockGuard::lost`]).
    pub async fn lost(&self) {
        self.held.lost().await;
    }
}

/// A leader lease held until lost (`lock PATTERN ttl reconciler lease`): the reconcilers take it
/// and keep it, renewed in the background, for as long as they can; it is never released, and a
/// lost lease is never taken again silently: [`LeaderLease::lost`] fires and the holder decides.
pub struct Lease<'s> {
    inner: LockKey<'s>,
}

impl<'s> Lease<'s> {
    /// The lease at `key`, an instance of key definition `id` (generated code).
    pub fn new(core: &'s Core, id: KeyId, key: String) -> Self {
        Self {
            inner: LockKey::new(core, id, key),
        }
    }

    /// The formatted key.
    pub fn key(&self) -> &str {
        &self.inner.key
    }

    /// The same lease, during a layout change also taken on `previous`, the previous
    /// layout's key (generated code): the old key first, then the new one, both with one token,
    /// renewed and released together, so instances of the two versions never both hold it.
    /// Fencing tokens come from the new key's counter. `None`: not bridged.
    #[doc(hidden)]
    #[must_use]
    pub fn bridged(mut self, previous: Option<String>) -> Self {
        self.inner.previous = previous;
        self
    }

    /// Takes the lease if no one holds it, in one round trip.
    pub async fn try_acquire(&self) -> Result<Option<LeaderLease>> {
        Ok(self.inner.try_take().await?.map(|held| LeaderLease { held }))
    }

    /// Takes the lease, waiting for it at most `wait` ([`Error::NotAcquired`] then).
    pub async fn acquire(&self, wait: Duration) -> Result<LeaderLease> {
        Ok(LeaderLease {
            held: self.inner.take(wait).await?,
        })
    }
}

/// A held [`Lease`]. Dropping it stops the renewal and leaves the key to expire (the seed's
/// reconcilers never release); [`LeaderLease::step_down`] hands it over at once.
pub struct LeaderLease {
    held: Arc<Held>,
}

impl LeaderLease {
    /// The fencing token of this term: issued by the first call (one round trip, a script that
    /// checks the lease is still ours: [`Error::LockNotHeld`] otherwise), the same afterwards.
    pub async fn fence(&self) -> Result<&Fence> {
        self.held.fence().await
    }

    /// Whether this process still leads as far as it knows.
    pub fn is_held(&self) -> bool {
        self.held.is_held()
    }

    /// Resolves when leadership is lost.
    pub async fn lost(&self) {
        self.held.lost().await;
    }

    /// Runs `work` while leading; cancels it and answers [`LeaseLost::DuringWork`] when
    /// leadership is lost, or [`LeaseLost::BeforeWork`] without starting it if it already was.
    pub async fn run<T>(&self, work: impl Future<Output = T>) -> Result<T, LeaseLost> {
        self.held.run(work).await
    }

    /// Releases the lease now (on shutdown), so another instance leads without waiting for the
    /// TTL; whether it was still ours.
    pub async fn step_down(self) -> Result<bool> {
        self.held.release().await
    }
}

impl Drop for LeaderLease {
    fn drop(&mut self) {
        self.held.mark_released();
    }
}

/// Deletes `key` if it still holds `token` (an owner's release, as the cache's load lock's);
/// whether it did.
pub(crate) async fn release_token(core: &Core, key: &str, token: &str) -> Result<bool> {
    let released = core.run_script(&RELEASE.call(&[key]).arg(token), key).await?;
    Ok(matches!(released, redis::Value::Int(1)))
}

/// Runs [`RELEASE_SOURCE`] on `key`: whether it was held with `token` (and is now deleted).
async fn release_if_owner(core: &Core, key: &str, token: &str) -> Result<bool> {
    let released = core.run_script(&RELEASE.call(&[key]).arg(token), key).await?;
    Ok(matches!(released, redis::Value::Int(1)))
}

/// Runs [`EXTEND_SOURCE`] on `key`: whether it was held with `token` (and its TTL is reset).
async fn extend_if_owner(core: &Core, key: &str, token: &str, ttl: Duration) -> Result<bool> {
    let extended = core
        .run_script(&EXTEND.call(&[key]).arg(token).arg(millis(ttl)), key)
        .await?;
    Ok(matches!(extended, redis::Value::Int(1)))
}
