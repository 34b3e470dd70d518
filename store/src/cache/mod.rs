//! Cache-aside over `cache` keys: [`CacheKey::get_or_load`] answers from Redis, or runs the
//! loader once per key however many callers wait (and, with `single_flight instances`, once
//! across instances) and stores the result with the declared TTL. When Redis is down or slow the
//! loader's value is returned uncached within the connection's deadline, and counted. Keys of a
//! cache are removed one by one or by pattern ([`Store::invalidate`]).

mod flight;
mod invalidate;
mod stats;

pub(crate) use invalidate::{invalidate, stats};
pub use stats::CacheStats;

use crate::codec::Codec;
use crate::codec::{decode, encode};
use crate::error::{Error, Result};
use crate::policy::KeyId;
use crate::telemetry::{self, op, Op, Outcome};
use crate::util::owner_token;
use crate::write::Write;
use flight::Flights;
use keyschema::{CachePolicy, Companion, Primitive, SingleFlight};
use stats::{Count, Counters};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

accessor!(CacheKey<C> where Codec; "A key of a `cache` declaration: a function's result encoded with `C`.");

/// Why [`CacheKey::get_or_load`] gave no value.
#[derive(Debug, thiserror::Error)]
pub enum CacheError<E> {
    /// The loader failed (and nothing was cached).
    #[error("loading the value failed")]
    Load(#[source] E),
    /// Redis answered in a way that is not a fallback case (a key of another type, a value the
    /// store cannot encode).
    #[error(transparent)]
    Store(#[from] Error),
}

impl<T, E> Outcome for std::result::Result<T, CacheError<E>> {
    fn error_class(&self) -> Option<&'static str> {
        match self {
            Ok(_) => None,
            Err(CacheError::Store(error)) => Some(telemetry::error_class(error)),
            // The service's loader failed, not Redis.
            Err(CacheError::Load(_)) => Some("Failed"),
        }
    }
}

/// The state of a store's caches (kept in the core's extensions): loads in flight and counts per
/// cache.
#[derive(Default)]
pub(crate) struct Caches {
    flights: Flights,
    counters: Mutex<HashMap<KeyId, Arc<Counters>>>,
}

impl Caches {
    fn counters(&self, id: KeyId) -> Arc<Counters> {
        let mut counters = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(counters.entry(id).or_default())
    }
}

/// What a load is taken to cost before one has been measured in this process, for early refresh.
const EARLY_LOAD_GUESS: Duration = Duration::from_millis(50);

/// Whether a hit with `remaining` time to live reloads now: probabilistic early expiration
/// ("XFetch", Vattani et al.): reload when `load_time * -ln(u) >= remaining` for a uniform `u`,
/// so a key far from expiry almost never reloads, one a load's time away often does, and
/// instances do not all reload at the same moment.
fn refresh_now(remaining: Duration, load_time: Duration) -> bool {
    let draw = 1.0 - crate::util::unit_random(); // in (0, 1]
    load_time.as_secs_f64() * -draw.ln() >= remaining.as_secs_f64()
}

/// One `get_or_load` call as the load path sees it: where to count, whether Redis answered, and
/// whether the call found nothing (a miss, counted if this call loads).
#[derive(Clone, Copy)]
struct Call<'c> {
    counters: &'c Counters,
    redis_up: bool,
    missed: bool,
}

/// How long a waiting instance polls for the value another instance is loading, at most: the
/// load lock's TTL (after it, the lock is gone and this instance loads).
const POLL_LIMIT: Duration = Duration::from_secs(10);

impl<C: Codec> CacheKey<'_, C>
where
    C::Value: Clone + Send + Sync + 'static,
{
    /// The cached value, if any. A value that no longer decodes (the type changed since it was
    /// written) reads as absent, so the next load replaces it.
    pub async fn get(&self) -> Result<Option<C::Value>> {
        let h = &self.handle;
        let bytes: Option<Vec<u8>> = h.core.read(redis::cmd("GET").arg(&h.key), &h.key, "GET").await?;
        Ok(bytes.and_then(|bytes| decode::<C>(&h.key, &bytes).ok()))
    }

    /// The cached value, or `load`'s, stored with the key's TTL. Concurrent callers of one key
    /// in this process run `load` once; with `single_flight instances`, once across instances
    /// (the others wait for the stored value). When Redis cannot be used, `load`'s value is
    /// returned uncached and counted as a fallback. With `refresh_early`, a hit close to expiry
    /// may reload (the closer, the likelier; other callers keep the cached value meanwhile).
    ///
    /// ```no_run
    /// # async fn demo(cache: keyschema_store::CacheKey<'_, keyschema_store::Text>) {
    /// let info = cache
    ///     .get_or_load(|| async { Ok::<_, std::io::Error>("device 7".to_string()) })
    ///     .await;
    /// # }
    /// ```
    pub async fn get_or_load<F, Fut, E>(&self, load: F) -> std::result::Result<C::Value, CacheError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<C::Value, E>>,
    {
        let h = &self.handle;
        telemetry::observe(
            h.core,
            Op::on(h.id, op!("CACHE")).at(&h.key),
            self.cached_or_loaded(load),
        )
        .await
    }

    /// [`CacheKey::get_or_load`], observed by its caller.
    async fn cached_or_loaded<F, Fut, E>(&self, load: F) -> std::result::Result<C::Value, CacheError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<C::Value, E>>,
    {
        let h = &self.handle;
        let caches = h.core.extension::<Caches>();
        let counters = caches.counters(h.id);
        let policy = self.policy();
        let mut redis_up = true;
        let mut stale = None;
        // Counted once per call: a miss only if this call ends up loading (callers that wait for
        // another's load count as hits), so the count is decided where the call's answer is.
        let mut missed = false;
        let found = if policy.is_some_and(|p| p.refresh_early) {
            self.get_with_ttl().await
        } else {
            self.get().await.map(|value| value.map(|value| (value, None)))
        };
        match found {
            Ok(Some((value, remaining))) => {
                counters.add(Count::Hit);
                if !remaining.is_some_and(|remaining| refresh_now(remaining, counters.load_time(EARLY_LOAD_GUESS))) {
                    return Ok(value);
                }
                stale = Some(value);
            }
            Ok(None) => missed = true,
            Err(error) if error.is_unavailable() => {
                counters.add(Count::Fallback);
                redis_up = false;
            }
            Err(error) => return Err(error.into()),
        }
        // Boxed: a miss's state (the flight, the loader's future) stays out of every hit's future.
        let call = Call {
            counters: &counters,
            redis_up,
            missed,
        };
        Box::pin(self.load_missing(load, caches, call, policy, stale)).await
    }

    /// After a miss (or a hit due for an early refresh, `stale`): joins this key's load in the
    /// process, or loads it (once across instances with `single_flight instances`) and stores it.
    async fn load_missing<F, Fut, E>(
        &self,
        load: F,
        caches: &Caches,
        call: Call<'_>,
        policy: Option<CachePolicy>,
        stale: Option<C::Value>,
    ) -> std::result::Result<C::Value, CacheError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<C::Value, E>>,
    {
        let h = &self.handle;
        let (counters, redis_up) = (call.counters, call.redis_up);
        let (flight, created) = caches.flights.join::<C::Value>(&h.key);
        let stale = match (stale, created) {
            // Someone is already reloading it: the cached value is still good.
            (Some(value), false) => return Ok(value),
            (stale, _) => stale,
        };
        let mut slot = flight.lock().await;
        if let Some(value) = slot.as_ref() {
            counters.add(Count::Hit);
            return Ok(value.clone());
        }
        // Someone may have stored it since this caller looked (the flight it waited for ended).
        if !created && redis_up {
            if let Ok(Some(value)) = self.get().await {
                counters.add(Count::Hit);
                return Ok(value);
            }
        }
        let instances = policy.is_some_and(|p| p.single_flight == SingleFlight::Instances);
        let outcome = if redis_up && instances {
            self.load_across_instances(load, call).await
        } else {
            self.load_and_store(load, call).await
        };
        let outcome = match (outcome, stale) {
            // An early refresh that failed (counted) leaves the cached value in place.
            (Err(CacheError::Load(_)), Some(stale)) => {
                crate::recording::decision("stale");
                Ok(stale)
            }
            (outcome, _) => outcome,
        };
        if let Ok(value) = &outcome {
            *slot = Some(value.clone());
        }
        drop(slot);
        caches.flights.end(&h.key, &flight);
        outcome
    }

    fn policy(&self) -> Option<CachePolicy> {
        match self.handle.core.primitive(self.handle.id) {
            Some(Primitive::Cache(policy)) => Some(*policy),
            _ => None,
        }
    }

    /// The cached value and its remaining time to live, in one round trip.
    async fn get_with_ttl(&self) -> Result<Option<(C::Value, Option<Duration>)>> {
        let h = &self.handle;
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(&h.key).cmd("PTTL").arg(&h.key);
        let (bytes, pttl): (Option<Vec<u8>>, i64) = h.core.read_pipeline(&pipe, &h.key, "GET").await?;
        let remaining = u64::try_from(pttl).ok().map(Duration::from_millis);
        Ok(bytes
            .and_then(|bytes| decode::<C>(&h.key, &bytes).ok())
            .map(|value| (value, remaining)))
    }

    /// Runs `load` and stores its value (unless Redis is known down); a failed store is a
    /// fallback, the value is still the answer. The call counts its miss here, where it loads.
    async fn load_and_store<F, Fut, E>(&self, load: F, call: Call<'_>) -> std::result::Result<C::Value, CacheError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<C::Value, E>>,
    {
        let h = &self.handle;
        let Call {
            counters,
            redis_up,
            missed,
        } = call;
        if missed {
            counters.add(Count::Miss);
        }
        counters.add(Count::Load);
        let started = Instant::now();
        let value = load().await.map_err(|error| {
            counters.add(Count::LoadError);
            CacheError::Load(error)
        })?;
        counters.record_load_time(started.elapsed());
        if redis_up {
            let write = Write::set(h.policy, &h.key, encode::<C>(&h.key, &value)?, h.ttl);
            match h.core.write_value::<redis::Value>(&write).await {
                // The value is still the answer; the call was already counted (a miss or a hit
                // refreshing early), and counting it again would break hits + misses + fallbacks
                // = calls.
                Ok(_) => {}
                Err(error) if error.is_unavailable() => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(value)
    }

    /// Takes the key's load lock and loads; if another instance holds it, waits for the value it
    /// stores (polling, backing off), and loads itself if the lock goes away without a value.
    async fn load_across_instances<F, Fut, E>(
        &self,
        load: F,
        call: Call<'_>,
    ) -> std::result::Result<C::Value, CacheError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<C::Value, E>>,
    {
        let h = &self.handle;
        let counters = call.counters;
        let Some(lock_id) = h.core.policy(h.id).companion(Companion::CacheLoad) else {
            return self.load_and_store(load, call).await;
        };
        let lock_key = h.core.policy(h.id).companion_key(&h.key, Companion::CacheLoad);
        let lock_ttl = h.core.policy(lock_id).ttl;
        let token = owner_token();
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            let take = Write::set_if_absent(&lock_key, token.clone().into_bytes(), lock_ttl);
            let taken: std::result::Result<Option<String>, Error> = h.core.write_value(&take).await;
            match taken {
                Ok(Some(_)) => {
                    let outcome = self.load_and_store(load, call).await;
                    // A failed release leaves the lock to its short TTL.
                    let _ = crate::primitives::release_token(h.core, &lock_key, &token).await;
                    return outcome;
                }
                Ok(None) => {}
                Err(error) if error.is_unavailable() => {
                    // Counted as a fallback, the one count of this call.
                    counters.add(Count::Fallback);
                    let fallback = Call {
                        redis_up: false,
                        missed: false,
                        ..call
                    };
                    return self.load_and_store(load, fallback).await;
                }
                Err(error) => return Err(error.into()),
            }
            if started.elapsed() > POLL_LIMIT {
                return self.load_and_store(load, call).await;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
            if let Ok(Some(value)) = self.get().await {
                counters.add(Count::Hit);
                return Ok(value);
            }
        }
    }

    /// Removes the cached value; whether there was one.
    pub async fn invalidate(&self) -> Result<bool> {
        let h = &self.handle;
        telemetry::observe(h.core, Op::on(h.id, op!("CACHE")).at(&h.key), async move {
            crate::recording::decision("invalidated");
            h.core.delete(&h.key).await
        })
        .await
    }
}
