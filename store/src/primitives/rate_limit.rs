//! Rate limits (`ratelimit` keys): a fixed window (`limit N`), by the server's second when the
//! pattern has a `unix_seconds` parameter (`cordum:rl:<tenant>:<unixSec>`) or from the first hit
//! for the key's TTL (`login:failed:*`), and GCRA (`rate N per D burst B`). One script, one round
//! trip per decision; the declared fallback when Redis cannot be reached.

use super::local::LocalLimits;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::policy::KeyId;
use crate::recording;
use crate::script::StoredScript;
use crate::telemetry::{self, op, Op};
use crate::util::{int_at, millis};
use keyschema::{Fallback, FormatError, Primitive, RateAlgorithm};
use std::borrow::Cow;
use std::sync::LazyLock;
use std::time::Duration;

/// Counts `ARGV[4]` hits in the key's window, creating it with its TTL in the same step (a
/// counter never exists without one). With `ARGV[3]` (a second), the key is that second's
/// window, and the server's own second must be it: otherwise `{-1, server second}` and nothing
/// is counted. Answers `{count, PTTL, microseconds into the second}`.
pub const WINDOW_SOURCE: &str = r"
local now = redis.call('TIME')
if ARGV[3] ~= '' and now[1] ~= ARGV[3] then
  return {-1, tonumber(now[1]), 0}
end
local count = redis.call('INCRBY', KEYS[1], ARGV[4])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {count, ttl, tonumber(now[2])}
";
static WINDOW: LazyLock<StoredScript> = LazyLock::new(|| StoredScript::new(WINDOW_SOURCE));

/// GCRA: `ARGV` = emission interval and burst tolerance in milliseconds, and the cost. The
/// key holds the theoretical arrival time (milliseconds, server clock) and lives until it.
/// Answers `{allowed, remaining, retry after ms, reset after ms}`.
pub const GCRA_SOURCE: &str = r"
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + tonumber(now[2]) / 1000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now_ms
if tat < now_ms then tat = now_ms end
local new_tat = tat + interval * tonumber(ARGV[3])
local allow_at = new_tat - tolerance - interval
if now_ms < allow_at then
  return {0, 0, math.ceil(allow_at - now_ms), math.ceil(tat - now_ms)}
end
local ttl = math.max(1, math.ceil(new_tat - now_ms))
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', ttl)
return {1, math.floor((now_ms - allow_at) / interval), 0, ttl}
";
static GCRA: LazyLock<StoredScript> = LazyLock::new(|| StoredScript::new(GCRA_SOURCE));

/// Where a decision came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionSource {
    /// The shared counter in Redis.
    Redis,
    /// Redis could not be reached: the declared fallback decided.
    Fallback(Fallback),
}

/// What a decision says, telling a request over the limit from one refused because the limit
/// could not be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit (or allowed by `fallback open` / `local`).
    Allowed,
    /// Over the limit: retry after `retry_after`.
    Limited,
    /// Refused because Redis could not be reached and the limit declares `fallback closed`:
    /// `retry_after` is the limit's window (its period for GCRA), so a client that honours it
    /// does not retry in a tight loop while Redis is down.
    Unavailable,
}

impl Verdict {
    fn counted(allowed: bool) -> Self {
        if allowed {
            Self::Allowed
        } else {
            Self::Limited
        }
    }
}

/// A rate limit's answer (the redis-cell answer): allowed or not, what is left, and when to come
/// back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The most requests allowed at once (the window's limit, or the burst plus one).
    pub limit: u64,
    /// Requests still allowed now.
    pub remaining: u64,
    /// When refused, how long until a request is allowed again.
    pub retry_after: Duration,
    /// How long until the limit is fully reset.
    pub reset_after: Duration,
    /// The server second the hit was counted in, for a limit counted per second.
    pub window: Option<i64>,
    /// Who decided.
    pub source: DecisionSource,
    /// Allowed, over the limit, or refused for want of Redis.
    pub verdict: Verdict,
}

/// How the key is formed: once, or per second of the server's clock.
enum KeyForm<'s> {
    Fixed(String),
    PerSecond(Box<dyn Fn(i64) -> Result<String, FormatError> + Send + Sync + 's>),
}

/// A rate limit on one key (or one key per second). Decisions cost one round trip.
///
/// ```no_run
/// # async fn demo(limit: keyschema_store::RateLimit<'_>) -> keyschema_store::Result<()> {
/// let decision = limit.hit().await?;
/// if !decision.allowed {
///     // Answer 429 with `Retry-After: decision.retry_after`.
/// }
/// # Ok(()) }
/// ```
pub struct RateLimit<'s> {
    core: &'s Core,
    id: KeyId,
    key: KeyForm<'s>,
    algorithm: RateAlgorithm,
    fallback: Fallback,
    ttl: Duration,
    /// During a layout change, the same limit on the previous layout's key, counted too.
    previous: Option<Box<Self>>,
}

impl<'s> RateLimit<'s> {
    /// The rate limit at `key`, an instance of key definition `id` (generated code).
    pub fn new(core: &'s Core, id: KeyId, key: String) -> Self {
        Self::with_form(core, id, KeyForm::Fixed(key))
    }

    /// A rate limit whose key holds the window's second (a `unix_seconds` parameter): `key`
    /// formats the key of a second (generated code).
    pub fn per_second(
        core: &'s Core,
        id: KeyId,
        key: impl Fn(i64) -> Result<String, FormatError> + Send + Sync + 's,
    ) -> Self {
        Self::with_form(core, id, KeyForm::PerSecond(Box::new(key)))
    }

    fn with_form(core: &'s Core, id: KeyId, key: KeyForm<'s>) -> Self {
        let (algorithm, fallback) = match core.primitive(id) {
            Some(Primitive::RateLimit(policy)) => (policy.algorithm, policy.fallback),
            // Generated code only builds rate limits for rate-limit keys.
            _ => (RateAlgorithm::Window { limit: 0 }, Fallback::Closed),
        };
        let ttl = core.ttl_of(id).unwrap_or(Duration::from_secs(1));
        Self {
            core,
            id,
            key,
            algorithm,
            fallback,
            ttl,
            previous: None,
        }
    }

    /// The same limit, during a layout change counted on `previous` too, the previous layout's
    /// key (generated code): instances of the previous version count there, so a request is
    /// allowed only if both counts allow it, and the limit holds across the two versions.
    /// `None`: not bridged.
    #[doc(hidden)]
    #[must_use]
    pub fn bridged(self, previous: Option<String>) -> Self {
        let twin = previous.map(KeyForm::Fixed);
        self.with_previous(twin)
    }

    /// As [`RateLimit::bridged`], for a limit counted per server second: `previous` formats
    /// the previous layout's key of a second (generated code).
    #[doc(hidden)]
    #[must_use]
    pub fn bridged_per_second(self, previous: impl Fn(i64) -> Result<String, FormatError> + Send + Sync + 's) -> Self {
        self.with_previous(Some(KeyForm::PerSecond(Box::new(previous))))
    }

    fn with_previous(mut self, form: Option<KeyForm<'s>>) -> Self {
        self.previous = form.map(|key| {
            Box::new(Self {
                core: self.core,
                id: self.id,
                key,
                algorithm: self.algorithm,
                fallback: self.fallback,
                ttl: self.ttl,
                previous: None,
            })
        });
        self
    }

    /// The most requests allowed at once.
    pub fn limit(&self) -> u64 {
        match self.algorithm {
            RateAlgorithm::Window { limit } => limit,
            RateAlgorithm::Gcra { burst, .. } => burst.saturating_add(1),
        }
    }

    /// Counts one request and decides it.
    pub async fn hit(&self) -> Result<Decision> {
        self.hit_n(1).await
    }

    /// Counts `cost` requests at once and decides them together.
    pub async fn hit_n(&self, cost: u64) -> Result<Decision> {
        telemetry::observe(self.core, Op::on(self.id, op!("RATELIMIT")), async {
            let decided = self.hit_both(cost).await;
            if let Ok(decision) = &decided {
                recording::decision(match (decision.source, decision.verdict) {
                    (DecisionSource::Fallback(Fallback::Open), _) => "fallback_open",
                    (DecisionSource::Fallback(Fallback::Closed), _) => "fallback_closed",
                    (DecisionSource::Fallback(Fallback::Local), _) => "fallback_local",
                    (_, Verdict::Allowed) => "allowed",
                    _ => "limited",
                });
            }
            decided
        })
        .await
    }

    /// Counts and decides on this limit's key (and its previous layout's, when bridged).
    async fn hit_both(&self, cost: u64) -> Result<Decision> {
        if let Some(previous) = &self.previous {
            // Boxed: the bridge's second decision stays out of every other limit's future.
            return Box::pin(async move {
                let old = previous.hit_n(cost).await?;
                let new = self.decide(cost).await?;
                Ok(both(old, new))
            })
            .await;
        }
        self.decide(cost).await
    }

    /// Counts and decides on this limit's key alone.
    async fn decide(&self, cost: u64) -> Result<Decision> {
        let decided = match self.algorithm {
            RateAlgorithm::Window { limit } => self.window(limit, cost).await,
            RateAlgorithm::Gcra { rate, period, burst } => self.gcra(rate, period.0, burst, cost).await,
        };
        match decided {
            Err(error) if error.is_unavailable() => Ok(self.fall_back(cost)),
            other => other,
        }
    }

    /// Resets the count (after a successful login, say): deletes the key of the current window.
    pub async fn reset(&self) -> Result<bool> {
        let key = self.current_key()?;
        let reset = self.core.delete(&key).await?;
        match &self.previous {
            Some(previous) => Ok(previous.core.delete(&previous.current_key()?).await? || reset),
            None => Ok(reset),
        }
    }

    /// The key of the current window: the fixed key, or the key of the server's second.
    pub fn current_key(&self) -> Result<String> {
        self.key_now().map(Cow::into_owned)
    }

    /// The key of the current window, borrowed when it is fixed (the clock is then not read).
    fn key_now(&self) -> Result<Cow<'_, str>> {
        match self.key {
            KeyForm::Fixed(_) => self.key_at(0),
            KeyForm::PerSecond(_) => self.key_at(self.core.extension::<LocalLimits>().server_second()),
        }
    }

    /// The key of the window of the server's `second` (any second for a fixed key).
    fn key_at(&self, second: i64) -> Result<Cow<'_, str>> {
        Ok(match &self.key {
            KeyForm::Fixed(key) => Cow::Borrowed(key),
            KeyForm::PerSecond(format) => Cow::Owned(format(second)?),
        })
    }

    async fn window(&self, limit: u64, cost: u64) -> Result<Decision> {
        // A windowed key is formed from the server's second as last seen; if the server's clock
        // is on another second, it says which, and the request is counted there.
        let mut second = match self.key {
            KeyForm::Fixed(_) => 0, // Unused: the key is the same in every second.
            KeyForm::PerSecond(_) => self.core.extension::<LocalLimits>().server_second(),
        };
        for _ in 0..3 {
            let key = self.key_at(second)?;
            let second_arg = match self.key {
                KeyForm::Fixed(_) => String::new(),
                KeyForm::PerSecond(_) => second.to_string(),
            };
            let reply = self
                .core
                .run_script(
                    &WINDOW
                        .call(&[&key])
                        .arg(limit)
                        .arg(millis(self.ttl))
                        .arg(second_arg)
                        .arg(cost),
                    &key,
                )
                .await?;
            let redis::Value::Array(items) = &reply else {
                return Err(Error::unexpected(&key, "EVALSHA", &reply));
            };
            let count = int_at(items, 0);
            if count < 0 {
                second = int_at(items, 1);
                self.core.extension::<LocalLimits>().saw_server_second(second);
                continue;
            }
            let count = count.unsigned_abs();
            let ttl = Duration::from_millis(int_at(items, 1).unsigned_abs());
            let window_left = match self.key {
                KeyForm::Fixed(_) => ttl,
                // The window ends with the server's second.
                KeyForm::PerSecond(_) => {
                    Duration::from_micros(1_000_000u64.saturating_sub(int_at(items, 2).unsigned_abs()))
                }
            };
            let allowed = count <= limit;
            return Ok(Decision {
                allowed,
                limit,
                remaining: limit.saturating_sub(count),
                retry_after: if allowed { Duration::ZERO } else { window_left },
                reset_after: window_left,
                window: matches!(self.key, KeyForm::PerSecond(_)).then_some(second),
                source: DecisionSource::Redis,
                verdict: Verdict::counted(allowed),
            });
        }
        // Three answers, three different seconds: the second is changing under us; refuse
        // rather than count in a window the server has left.
        Err(Error::unexpected(
            &self.current_key()?,
            "EVALSHA",
            &redis::Value::SimpleString("the server's second kept changing".into()),
        ))
    }

    async fn gcra(&self, rate: u64, period_ms: u64, burst: u64, cost: u64) -> Result<Decision> {
        let key = self.key_now()?;
        let interval = period_ms as f64 / rate.max(1) as f64;
        let tolerance = interval * burst as f64;
        let reply = self
            .core
            .run_script(
                &GCRA
                    .call(&[&key])
                    .arg(interval.to_string())
                    .arg(tolerance.to_string())
                    .arg(cost),
                &key,
            )
            .await?;
        let redis::Value::Array(items) = &reply else {
            return Err(Error::unexpected(&key, "EVALSHA", &reply));
        };
        let ms = |at| Duration::from_millis(int_at(items, at).unsigned_abs());
        let allowed = int_at(items, 0) == 1;
        Ok(Decision {
            allowed,
            limit: burst.saturating_add(1),
            remaining: int_at(items, 1).unsigned_abs(),
            retry_after: ms(2),
            reset_after: ms(3),
            window: None,
            source: DecisionSource::Redis,
            verdict: Verdict::counted(allowed),
        })
    }

    /// The limit's window: a second for a per-second limit, the TTL for a counter, the period
    /// (`per D`) for GCRA.
    fn window_length(&self) -> Duration {
        match (self.algorithm, &self.key) {
            (RateAlgorithm::Gcra { period, .. }, _) => Duration::from_millis(period.0),
            (RateAlgorithm::Window { .. }, KeyForm::PerSecond(_)) => Duration::from_secs(1),
            (RateAlgorithm::Window { .. }, KeyForm::Fixed(_)) => self.ttl,
        }
    }

    /// The declared fallback's decision, Redis being unreachable.
    fn fall_back(&self, cost: u64) -> Decision {
        let source = DecisionSource::Fallback(self.fallback);
        let limit = self.limit();
        let fixed = |verdict: Verdict, wait: Duration| Decision {
            allowed: verdict == Verdict::Allowed,
            limit,
            remaining: 0,
            retry_after: wait,
            reset_after: wait,
            window: None,
            source,
            verdict,
        };
        match self.fallback {
            Fallback::Open => fixed(Verdict::Allowed, Duration::ZERO),
            Fallback::Closed => fixed(Verdict::Unavailable, self.window_length()),
            Fallback::Local => {
                // The local key ignores the second: a local window runs from its first hit.
                let key = match &self.key {
                    KeyForm::Fixed(key) => key.clone(),
                    KeyForm::PerSecond(format) => format(0).unwrap_or_default(),
                };
                let local = self.core.extension::<LocalLimits>();
                match self.algorithm {
                    RateAlgorithm::Window { limit } => {
                        let window = match self.key {
                            KeyForm::Fixed(_) => self.ttl,
                            KeyForm::PerSecond(_) => Duration::from_secs(1),
                        };
                        let (count, left) = local.window_hit(&key, window, cost);
                        let allowed = count <= limit;
                        Decision {
                            allowed,
                            limit,
                            remaining: limit.saturating_sub(count),
                            retry_after: if allowed { Duration::ZERO } else { left },
                            reset_after: left,
                            window: None,
                            source,
                            verdict: Verdict::counted(allowed),
                        }
                    }
                    RateAlgorithm::Gcra { rate, period, burst } => {
                        let interval = Duration::from_millis(period.0).div_f64(rate.max(1) as f64);
                        let tolerance = interval.mul_f64(burst as f64);
                        let (allowed, remaining, retry_after, reset_after) =
                            local.cell_hit(&key, interval, tolerance, cost);
                        Decision {
                            allowed,
                            limit,
                            remaining,
                            retry_after,
                            reset_after,
                            window: None,
                            source,
                            verdict: Verdict::counted(allowed),
                        }
                    }
                }
            }
        }
    }
}

/// The decision of a limit counted on two keys (a layout change's old and new): allowed only if
/// both allow, with what is left and the waits of the stricter.
fn both(old: Decision, new: Decision) -> Decision {
    let allowed = old.allowed && new.allowed;
    let verdict = match (old.verdict, new.verdict) {
        (Verdict::Unavailable, _) | (_, Verdict::Unavailable) => Verdict::Unavailable,
        _ => Verdict::counted(allowed),
    };
    Decision {
        allowed,
        limit: new.limit,
        remaining: old.remaining.min(new.remaining),
        retry_after: old.retry_after.max(new.retry_after),
        reset_after: old.reset_after.max(new.reset_after),
        window: new.window,
        source: if matches!(old.source, DecisionSource::Fallback(_)) {
            old.source
        } else {
            new.source
        },
        verdict,
    }
}
