//! Circuit breakers (`breaker` keys), shared by every instance: failures counted in the key's
//! TTL window open the breaker at the declared threshold; once `open_for` has passed one probe
//! at a time (across instances) is let through, and `close_after` successful probes close it.
//! The failure counter is the declared key; the open state is its companion `_state` hash.
//! When Redis cannot be reached, a breaker with the same settings in this process decides, and
//! [`BreakerStatus::local`] says so.

use crate::core::Core;
use crate::error::{Error, Result};
use crate::policy::KeyId;
use crate::recording;
use crate::script::StoredScript;
use crate::telemetry::{self, op, Op};
use crate::util::{int_at, locked, millis};
use keyschema::{BreakerPolicy, Companion, Millis, Primitive};
use std::collections::HashMap;
use std::future::Future;
use std::sync::LazyLock;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// May a call go through? `ARGV`: probe timeout, state TTL (ms). Answers `{0}` closed, `{1, ms}`
/// open for that long, `{2, ms}` half-open with another probe in flight, `{3}` half-open and
/// this call is the probe.
pub const PERMIT_SOURCE: &str = r"
local opened = tonumber(redis.call('HGET', KEYS[2], 'opened_until'))
if not opened then return {0, 0} end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if now_ms < opened then return {1, opened - now_ms} end
local probe = tonumber(redis.call('HGET', KEYS[2], 'probe_until')) or 0
if now_ms < probe then return {2, probe - now_ms} end
redis.call('HSET', KEYS[2], 'probe_until', now_ms + tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {3, 0}
";
static PERMIT: LazyLock<StoredScript> = LazyLock::new(|| StoredScript::new(PERMIT_SOURCE));

/// Records a call's outcome. `ARGV`: succeeded (1/0), was a probe (1/0), threshold, window,
/// open for, successes to close, state TTL. Answers the state after it: 0 closed, 1 open,
/// 2 half-open.
pub const RECORD_SOURCE: &str = r"
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local function open()
  redis.call('HSET', KEYS[2], 'opened_until', now_ms + tonumber(ARGV[5]), 'probe_until', 0, 'successes', 0)
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
  redis.call('DEL', KEYS[1])
  return 1
end
local opened = tonumber(redis.call('HGET', KEYS[2], 'opened_until'))
if opened then
  if ARGV[2] ~= '1' then
    if now_ms < opened then return 1 end
    return 2
  end
  if ARGV[1] == '1' then
    local successes = redis.call('HINCRBY', KEYS[2], 'successes', 1)
    if successes >= tonumber(ARGV[6]) then
      redis.call('DEL', KEYS[2], KEYS[1])
      return 0
    end
    redis.call('HSET', KEYS[2], 'probe_until', 0)
    return 2
  end
  return open()
end
if ARGV[1] == '1' then return 0 end
local failures = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
if failures >= tonumber(ARGV[3]) then return open() end
return 0
";
static RECORD: LazyLock<StoredScript> = LazyLock::new(|| StoredScript::new(RECORD_SOURCE));

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are refused for this long.
    Open {
        /// Until a probe may go through.
        retry_after: Duration,
    },
    /// One probe at a time goes through; its outcome closes or reopens the breaker.
    HalfOpen,
}

/// A breaker's state and whether it is the shared one or this process's fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerStatus {
    /// The state.
    pub state: BreakerState,
    /// Whether Redis was unreachable and the local breaker decided.
    pub local: bool,
}

/// Why [`Breaker::call`] did not give the call's value.
#[derive(Debug, thiserror::Error)]
pub enum BreakerError<E> {
    /// The breaker is open (or half-open with another probe in flight): the call was not made.
    #[error("circuit open: retry after {retry_after:?}")]
    Open {
        /// When to try again.
        retry_after: Duration,
    },
    /// The call was made and failed (and was counted).
    #[error("call failed: {0}")]
    Failed(#[source] E),
    /// The store failed otherwise than by being unreachable (a wrongly typed key).
    #[error(transparent)]
    Store(Error),
}

/// Leave to make one call: report its outcome with [`Permit::success`] or [`Permit::failure`].
#[must_use = "report the call's outcome, or a probe blocks the half-open breaker until it times out"]
pub struct Permit<'b, 's> {
    breaker: &'b Breaker<'s>,
    probe: bool,
    local: bool,
}

impl Permit<'_, '_> {
    /// Whether this call is the half-open breaker's probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// Whether the local fallback granted it.
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// The call succeeded.
    pub async fn success(self) -> Result<BreakerStatus> {
        self.report(true).await
    }

    /// The call failed.
    pub async fn failure(self) -> Result<BreakerStatus> {
        self.report(false).await
    }

    async fn report(self, succeeded: bool) -> Result<BreakerStatus> {
        let breaker = self.breaker;
        let op = Op::on(breaker.id, op!("BREAKER")).at(&breaker.key);
        telemetry::observe(breaker.core, op, async move {
            recording::decision(if succeeded { "success" } else { "failure" });
            breaker.record(succeeded, self.probe).await
        })
        .await
    }
}

/// A circuit breaker shared across instances through Redis.
///
/// ```no_run
/// # async fn demo(breaker: keyschema_store::Breaker<'_>) {
/// # async fn call_safety_service() -> Result<u32, std::io::Error> { Ok(1) }
/// match breaker.call(call_safety_service).await {
///     Ok(verdict) => { /* the call went through */ }
///     Err(keyschema_store::BreakerError::Open { retry_after }) => { /* degrade */ }
///     Err(other) => { /* the call failed, and was counted */ }
/// }
/// # }
/// ```
pub struct Breaker<'s> {
    core: &'s Core,
    id: KeyId,
    key: String,
    state_key: String,
    policy: BreakerPolicy,
    window: Duration,
}

impl<'s> Breaker<'s> {
    /// The breaker counting failures at `key`, an instance of key definition `id` (generated code).
    pub fn new(core: &'s Core, id: KeyId, key: String) -> Self {
        let policy = match core.primitive(id) {
            Some(Primitive::Breaker(policy)) => *policy,
            // Generated code only builds breakers for breaker keys.
            _ => BreakerPolicy {
                threshold: 5,
                open_for: Millis(30_000),
                close_after: 1,
            },
        };
        Self {
            id,
            state_key: core.policy(id).companion_key(&key, Companion::BreakerState),
            window: core.ttl_of(id).unwrap_or(Duration::from_millis(policy.open_for.0)),
            core,
            key,
            policy,
        }
    }

    /// The failure counter's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn open_for(&self) -> Duration {
        Duration::from_millis(self.policy.open_for.0)
    }

    /// Asks to make a call: a permit, or `Err(retry_after)` while the breaker refuses calls.
    pub async fn permit(&self) -> Result<std::result::Result<Permit<'_, 's>, Duration>> {
        telemetry::observe(self.core, Op::on(self.id, op!("BREAKER")).at(&self.key), async move {
            let open_for = millis(self.open_for());
            let reply = self
                .core
                .run_script(
                    &PERMIT
                        .call(&[&self.key, &self.state_key])
                        .arg(open_for)
                        .arg(open_for * 2),
                    &self.key,
                )
                .await;
            let reply = match reply {
                Err(error) if error.is_unavailable() => {
                    recording::decision("local");
                    return Ok(self.local_permit());
                }
                other => other?,
            };
            let redis::Value::Array(items) = &reply else {
                return Err(Error::unexpected(&self.key, "EVALSHA", &reply));
            };
            let wait = Duration::from_millis(int_at(items, 1).unsigned_abs());
            Ok(match int_at(items, 0) {
                0 => {
                    recording::decision("permitted");
                    Ok(self.granted(false, false))
                }
                3 => {
                    recording::decision("probe");
                    Ok(self.granted(true, false))
                }
                _ => {
                    recording::decision("rejected");
                    Err(wait)
                }
            })
        })
        .await
    }

    fn granted(&self, probe: bool, local: bool) -> Permit<'_, 's> {
        Permit {
            breaker: self,
            probe,
            local,
        }
    }

    /// Makes the call through the breaker: refused while open, counted when it fails.
    pub async fn call<T, E, F, Fut>(&self, call: F) -> std::result::Result<T, BreakerError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let permit = match self.permit().await.map_err(BreakerError::Store)? {
            Ok(permit) => permit,
            Err(retry_after) => return Err(BreakerError::Open { retry_after }),
        };
        let probe = permit.probe;
        match call().await {
            Ok(value) => {
                // A success while closed changes nothing: no round trip.
                if probe || permit.local {
                    permit.success().await.map_err(BreakerError::Store)?;
                }
                Ok(value)
            }
            Err(error) => {
                permit.failure().await.map_err(BreakerError::Store)?;
                Err(BreakerError::Failed(error))
            }
        }
    }

    /// The breaker's state, without asking to make a call. The open time is compared with the
    /// clock of the server that wrote it (`TIME`, in the same round trip), as the scripts do, so
    /// a client whose clock is off still reads the state the next call will find.
    pub async fn status(&self) -> BreakerStatus {
        let read = telemetry::observe(self.core, Op::on(self.id, op!("BREAKER")).at(&self.key), async move {
            recording::decision("status");
            let mut pipe = redis::pipe();
            pipe.cmd("HGET").arg(&self.state_key).arg("opened_until").cmd("TIME");
            let fields: Result<(Option<u64>, (u64, u64))> =
                self.core.read_pipeline(&pipe, &self.state_key, "HGET").await;
            fields
        });
        match read.await {
            Ok((None, _)) => BreakerStatus {
                state: BreakerState::Closed,
                local: false,
            },
            Ok((Some(opened_until), (seconds, micros))) => {
                let now = seconds.saturating_mul(1000).saturating_add(micros / 1000);
                BreakerStatus {
                    state: if now < opened_until {
                        BreakerState::Open {
                            retry_after: Duration::from_millis(opened_until - now),
                        }
                    } else {
                        BreakerState::HalfOpen
                    },
                    local: false,
                }
            }
            Err(_) => BreakerStatus {
                state: self.local_state(),
                local: true,
            },
        }
    }

    async fn record(&self, succeeded: bool, probe: bool) -> Result<BreakerStatus> {
        let open_for = millis(self.open_for());
        let reply = self
            .core
            .run_script(
                &RECORD
                    .call(&[&self.key, &self.state_key])
                    .arg(u8::from(succeeded))
                    .arg(u8::from(probe))
                    .arg(self.policy.threshold)
                    .arg(millis(self.window))
                    .arg(open_for)
                    .arg(self.policy.close_after)
                    .arg(open_for * 2),
                &self.key,
            )
            .await;
        let state = match reply {
            Err(error) if error.is_unavailable() => {
                return Ok(BreakerStatus {
                    state: self.local_record(succeeded, probe),
                    local: true,
                })
            }
            Err(error) => return Err(error),
            Ok(redis::Value::Int(0)) => BreakerState::Closed,
            Ok(redis::Value::Int(1)) => BreakerState::Open {
                retry_after: self.open_for(),
            },
            Ok(redis::Value::Int(_)) => BreakerState::HalfOpen,
            Ok(other) => return Err(Error::unexpected(&self.key, "EVALSHA", &other)),
        };
        Ok(BreakerStatus { state, local: false })
    }

    fn local_permit(&self) -> std::result::Result<Permit<'_, 's>, Duration> {
        let local = self.core.extension::<LocalBreakers>();
        let mut breakers = locked(&local.0);
        let breaker = breakers.entry(self.key.clone()).or_default();
        let now = Instant::now();
        match breaker.opened_until {
            None => Ok(self.granted(false, true)),
            Some(until) if now < until => Err(until - now),
            Some(_) => match breaker.probe_until {
                Some(probe) if now < probe => Err(probe - now),
                _ => {
                    breaker.probe_until = Some(now + self.open_for());
                    Ok(self.granted(true, true))
                }
            },
        }
    }

    fn local_record(&self, succeeded: bool, probe: bool) -> BreakerState {
        let local = self.core.extension::<LocalBreakers>();
        let mut breakers = locked(&local.0);
        let breaker = breakers.entry(self.key.clone()).or_default();
        let now = Instant::now();
        let open = |breaker: &mut LocalBreaker| {
            *breaker = LocalBreaker {
                opened_until: Some(now + self.open_for()),
                ..LocalBreaker::default()
            };
            BreakerState::Open {
                retry_after: self.open_for(),
            }
        };
        if breaker.opened_until.is_some() {
            if !probe {
                return if breaker.opened_until.is_some_and(|until| now < until) {
                    BreakerState::Open {
                        retry_after: self.open_for(),
                    }
                } else {
                    BreakerState::HalfOpen
                };
            }
            if !succeeded {
                return open(breaker);
            }
            breaker.successes += 1;
            if breaker.successes >= self.policy.close_after {
                *breaker = LocalBreaker::default();
                return BreakerState::Closed;
            }
            breaker.probe_until = None;
            return BreakerState::HalfOpen;
        }
        if succeeded {
            return BreakerState::Closed;
        }
        if breaker.window_end.map_or(true, |end| end <= now) {
            breaker.window_end = Some(now + self.window);
            breaker.failures = 0;
        }
        breaker.failures += 1;
        if breaker.failures >= self.policy.threshold {
            return open(breaker);
        }
        BreakerState::Closed
    }

    fn local_state(&self) -> BreakerState {
        let local = self.core.extension::<LocalBreakers>();
        let breakers = locked(&local.0);
        let now = Instant::now();
        match breakers.get(&self.key).and_then(|b| b.opened_until) {
            None => BreakerState::Closed,
            Some(until) if now < until => BreakerState::Open {
                retry_after: until - now,
            },
            Some(_) => BreakerState::HalfOpen,
        }
    }
}

/// The local fallback breakers of one store, by key (kept in the core's extensions).
#[derive(Default)]
struct LocalBreakers(Mutex<HashMap<String, LocalBreaker>>);

/// A breaker's state in this process, for when Redis cannot be reached.
#[derive(Debug, Default)]
struct LocalBreaker {
    failures: u64,
    window_end: Option<Instant>,
    opened_until: Option<Instant>,
    probe_until: Option<Instant>,
    successes: u64,
}
