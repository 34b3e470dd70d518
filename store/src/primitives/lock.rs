//! Locks and leader leases (`lock` keys): `SET key token NX PX ttl` with a random owner token,
//! extended and released only by a script that compares the token, renewed in the background at
//! a third of the TTL, with a fencing token from the lock's counter and a lost-lease signal.

use super::renewal::Renewal;
use super::{int_at, jittered, millis, owner_token};
use crate::error::{Error, Result};
use crate::policy::KeyId;
use crate::store::StoredScript;
use crate::Store;
use keyschema::Companion;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Takes the lock if it is free and issues the next fencing token: the counter plus one. A
/// counter that did not exist (new, or expired a day after its last acquisition) starts at the
/// server's clock in microseconds, above every token it issued before; so its TTL need not be
/// refreshed on every acquisition. `{1, token}`, or `{0, PTTL}` when the lock is held.
pub const ACQUIRE_SOURCE: &str = r"
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0, redis.call('PTTL', KEYS[1])}
end
local fence = redis.call('INCR', KEYS[2])
if fence == 1 then
  local now = redis.call('TIME')
  fence = tonumber(now[1]) * 1000000 + tonumber(now[2])
  redis.call('SET', KEYS[2], string.format('%.0f', fence), 'PX', ARGV[3])
end
return {1, fence}
";
static ACQUIRE: LazyLock<StoredScript> = LazyLock::new(|| StoredScript::new(ACQUIRE_SOURCE));

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

/// The lease was lost (a renewal failed or found another owner, or its TTL passed without
/// one) while work ran under it; the work was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the lease was lost while the work ran")]
pub struct LeaseLost;

/// A fencing token and the counter it came from: give it to a guarded write
/// ([`Transaction::fenced`](crate::Transaction::fenced)), which the server refuses once a newer
/// token has been issued for the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub(crate) counter: String,
    pub(crate) token: u64,
}

impl Fence {
    /// The token: every acquisition of the lock gets a larger one.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// The counter key (`{cordum:reconciler:default}:fence`).
    pub fn counter_key(&self) -> &str {
        &self.counter
    }
}

/// What a held lock and a held lease share: the owner token, the fence and the renewal state
/// (renewed by the store's renewal task, [`super::renewal`]).
struct Held {
    store: Store,
    key: String,
    token: String,
    fence: Fence,
    state: Arc<HeldState>,
}

/// A held lock's state, shared with its renewal.
pub(crate) struct HeldState {
    /// Set to `true` once, when a renewal fails or finds another owner.
    lost: watch::Sender<bool>,
    /// Until when the lock is certainly held: when the last successful renewal started, plus the
    /// TTL. Past it, the holder must assume another may hold it.
    valid_until: Mutex<Instant>,
    /// Released (or dropped): renewals stop.
    released: AtomicBool,
}

impl HeldState {
    fn valid_until(&self) -> Instant {
        // A poisoned lock only means a renewal panicked after storing an Instant: still valid.
        *self
            .valid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn is_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }

    pub(crate) fn renewed(&self, valid_until: Instant) {
        *self
            .valid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = valid_until;
    }

    pub(crate) fn lose(&self) {
        self.lost.send_replace(true);
    }
}

impl Held {
    fn start(store: Store, key: String, token: String, fence: Fence, ttl: Duration, acquired_at: Instant) -> Self {
        let (lost, _) = watch::channel(false);
        let state = Arc::new(HeldState {
            lost,
            valid_until: Mutex::new(acquired_at + ttl),
            released: AtomicBool::new(false),
        });
        let renewal = Arc::new(Renewal {
            store: store.clone(),
            key: key.clone(),
            token: token.clone(),
            ttl,
            state: Arc::clone(&state),
        });
        let shared = store.shared();
        shared.renewals.schedule(shared, renewal, acquired_at + ttl / 3);
        Self {
            store,
            key,
            token,
            fence,
            state,
        }
    }

    fn is_held(&self) -> bool {
        !*self.state.lost.borrow() && Instant::now() < self.state.valid_until()
    }

    async fn lost(&self) {
        let mut signal = self.state.lost.subscribe();
        loop {
            if *signal.borrow_and_update() {
                return;
            }
            let deadline = self.state.valid_until();
            if Instant::now() >= deadline {
                return;
            }
            tokio::select! {
                changed = signal.changed() => if changed.is_err() { return },
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    async fn run<T>(&self, work: impl Future<Output = T>) -> Result<T, LeaseLost> {
        tokio::select! {
            biased;
            () = self.lost() => Err(LeaseLost),
            value = work => Ok(value),
        }
    }

    /// Stops renewing and deletes the key if it is still ours.
    async fn release(&self) -> Result<bool> {
        self.state.released.store(true, Ordering::Release);
        let released = self
            .store
            .run_script(
                &RELEASE,
                std::slice::from_ref(&self.key),
                &[self.token.clone().into_bytes()],
                &self.key,
            )
            .await?;
        Ok(matches!(released, redis::Value::Int(1)))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.state.released.store(true, Ordering::Release);
    }
}

/// Extends the lock at `key` if `token` still owns it: whether it did.
pub(crate) async fn extend(store: &Store, key: &str, token: &str, ttl: Duration) -> Result<bool> {
    let extended = store
        .run_script(
            &EXTEND,
            &[key.to_string()],
            &[token.as_bytes().to_vec(), millis(ttl).to_string().into_bytes()],
            key,
        )
        .await?;
    Ok(matches!(extended, redis::Value::Int(1)))
}

/// The key, its fence counter and TTL, and how to take it: shared by [`Lock`] and [`Lease`].
struct LockKey<'s> {
    store: &'s Store,
    key: String,
    fence_key: String,
    fence_ttl: Duration,
    ttl: Duration,
}

impl<'s> LockKey<'s> {
    fn new(store: &'s Store, id: KeyId, key: String) -> Self {
        let fence_key = store.companion_key(id, &key, Companion::Fence);
        let fence_ttl = store
            .companion_id(id, Companion::Fence)
            .and_then(|fence| store.ttl_of(fence))
            .unwrap_or(Duration::from_secs(86_400));
        // The schema refuses a lock without a TTL; a minute is a safe bound should one appear.
        let ttl = store.ttl_of(id).unwrap_or(Duration::from_secs(60));
        Self {
            store,
            key,
            fence_key,
            fence_ttl,
            ttl,
        }
    }

    /// One attempt: the held lock, or how long the current holder's TTL still runs.
    async fn try_take(&self) -> Result<std::result::Result<Held, Duration>> {
        let token = owner_token();
        let started = Instant::now();
        let reply = self
            .store
            .run_script(
                &ACQUIRE,
                &[self.key.clone(), self.fence_key.clone()],
                &[
                    token.clone().into_bytes(),
                    millis(self.ttl).to_string().into_bytes(),
                    millis(self.fence_ttl).to_string().into_bytes(),
                ],
                &self.key,
            )
            .await?;
        let redis::Value::Array(items) = reply else {
            return Err(Error::unexpected(&self.key, "EVALSHA", &reply));
        };
        if int_at(&items, 0) != 1 {
            let remaining = u64::try_from(int_at(&items, 1)).unwrap_or(0);
            return Ok(Err(Duration::from_millis(remaining)));
        }
        let fence = Fence {
            counter: self.fence_key.clone(),
            token: u64::try_from(int_at(&items, 1)).unwrap_or(0),
        };
        Ok(Ok(Held::start(
            self.store.clone(),
            self.key.clone(),
            token,
            fence,
            self.ttl,
            started,
        )))
    }

    /// Attempts until taken or `wait` has passed, backing off (10 ms doubling to 200 ms, never
    /// past the holder's remaining TTL) with jitter.
    async fn take(&self, wait: Duration) -> Result<Held> {
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(10);
        loop {
            let remaining = match self.try_take().await? {
                Ok(held) => return Ok(held),
                Err(remaining) => remaining,
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::NotAcquired {
                    key: self.key.clone(),
                    waited: wait,
                });
            }
            let sleep = jittered(pause.min(remaining.max(Duration::from_millis(1))));
            tokio::time::sleep(sleep.min(deadline - now)).await;
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
/// let written = lock
///     .with_lock(Duration::from_secs(5), |fence| async move {
///         // Work here; guarded writes take `fence`.
///         fence.token()
///     })
///     .await?;
/// # Ok(()) }
/// ```
pub struct Lock<'s> {
    inner: LockKey<'s>,
}

impl<'s> Lock<'s> {
    /// The lock at `key`, an instance of key definition `id` (generated code).
    pub fn new(store: &'s Store, id: KeyId, key: String) -> Self {
        Self {
            inner: LockKey::new(store, id, key),
        }
    }

    /// The formatted key.
    pub fn key(&self) -> &str {
        &self.inner.key
    }

    /// Takes the lock if it is free, in one round trip.
    pub async fn try_acquire(&self) -> Result<Option<LockGuard>> {
        Ok(self
            .inner
            .try_take()
            .await?
            .ok()
            .map(|held| LockGuard { held: Some(held) }))
    }

    /// Takes the lock, waiting for it at most `wait` ([`Error::NotAcquired`] then).
    pub async fn acquire(&self, wait: Duration) -> Result<LockGuard> {
        Ok(LockGuard {
            held: Some(self.inner.take(wait).await?),
        })
    }

    /// Takes the lock (waiting at most `wait`), runs `work` with the fence, and releases the lock
    /// on every path: when the work ends, when it panics (the guard's drop releases), and when
    /// this future is dropped. If the lock is lost while the work runs, the work is cancelled and
    /// the answer is [`Error::LockLost`].
    pub async fn with_lock<F, Fut, T>(&self, wait: Duration, work: F) -> Result<T>
    where
        F: FnOnce(Fence) -> Fut,
        Fut: Future<Output = T>,
    {
        let guard = self.acquire(wait).await?;
        let outcome = guard.run(work(guard.fence().clone())).await;
        // A failed release leaves the lock to its TTL; the work's outcome still stands.
        let _ = guard.release().await;
        outcome.map_err(|LeaseLost| Error::LockLost {
            key: self.inner.key.clone(),
        })
    }
}

/// A held [`Lock`]: released by [`LockGuard::release`], or when dropped (in the background;
/// outside a tokio runtime the lock expires after its TTL instead).
pub struct LockGuard {
    held: Option<Held>,
}

impl LockGuard {
    fn held(&self) -> &Held {
        // `held` is only taken by `release`, which consumes the guard.
        self.held.as_ref().expect("a guard holds its lock until released")
    }

    /// The fencing token of this acquisition.
    pub fn fence(&self) -> &Fence {
        &self.held().fence
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

    /// Runs `work` while the lock is held; cancels it and answers [`LeaseLost`] if the lock is
    /// lost first.
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
        held.state.released.store(true, Ordering::Release);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = held.release().await;
            });
        }
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
    pub fn new(store: &'s Store, id: KeyId, key: String) -> Self {
        Self {
            inner: LockKey::new(store, id, key),
        }
    }

    /// The formatted key.
    pub fn key(&self) -> &str {
        &self.inner.key
    }

    /// Takes the lease if no one holds it, in one round trip.
    pub async fn try_acquire(&self) -> Result<Option<LeaderLease>> {
        Ok(self.inner.try_take().await?.ok().map(|held| LeaderLease { held }))
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
    held: Held,
}

impl LeaderLease {
    /// The fencing token of this term.
    pub fn fence(&self) -> &Fence {
        &self.held.fence
    }

    /// Whether this process still leads as far as it knows.
    pub fn is_held(&self) -> bool {
        self.held.is_held()
    }

    /// Resolves when leadership is lost.
    pub async fn lost(&self) {
        self.held.lost().await;
    }

    /// Runs `work` while leading; cancels it and answers [`LeaseLost`] when leadership is lost.
    pub async fn run<T>(&self, work: impl Future<Output = T>) -> Result<T, LeaseLost> {
        self.held.run(work).await
    }

    /// Releases the lease now (on shutdown), so another instance leads without waiting for the
    /// TTL; whether it was still ours.
    pub async fn step_down(self) -> Result<bool> {
        self.held.release().await
    }
}

impl Store {
    /// Deletes `key` if it still holds `token` (the owner's release); whether it did.
    pub(crate) async fn release_token(&self, key: &str, token: &str) -> Result<bool> {
        let released = self
            .run_script(&RELEASE, &[key.to_string()], &[token.as_bytes().to_vec()], key)
            .await?;
        Ok(matches!(released, redis::Value::Int(1)))
    }
}
