//! Timer queues (`timers` keys): a sorted set of members scored by fire time. Due timers are
//! claimed atomically on the server's clock, so each fires once among competing workers. A
//! claimed timer is pushed back by the visibility timeout until acknowledged (at least once, as
//! BullMQ and Sidekiq do), or removed as it is claimed (at most once).

use crate::codec::Codec;
use crate::codec::Score;
use crate::codec::{decode, encode};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::policy::KeyId;
use crate::recording;
use crate::script::StoredScript;
use crate::telemetry::{self, op, Op};
use crate::write::Write;
use keyschema::{Primitive, RedisType, ScoreKind};
use std::marker::PhantomData;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Claims up to `ARGV[1]` due members (score at most the server's now, in `ARGV[2]` units per
/// second). `ARGV[3]`: the visibility timeout in milliseconds, or `-1` to remove them (at most
/// once). Answers the server's now, then per member: the member, the score it was due at, and its
/// new score (empty when removed), all as strings.
pub const CLAIM_SOURCE: &str = r"
local time = redis.call('TIME')
local scale = tonumber(ARGV[2])
local now = tonumber(time[1]) * scale + math.floor(tonumber(time[2]) / 1000) * scale / 1000
local due = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[1]), 'WITHSCORES')
local out = {string.format('%.3f', now)}
local again = string.format('%.3f', now + tonumber(ARGV[3]) * scale / 1000)
for i = 1, #due, 2 do
  local member = due[i]
  out[#out + 1] = member
  out[#out + 1] = due[i + 1]
  if ARGV[3] == '-1' then
    redis.call('ZREM', KEYS[1], member)
    out[#out + 1] = ''
  else
    redis.call('ZADD', KEYS[1], again, member)
    out[#out + 1] = again
  end
end
return out
";
static CLAIM: LazyLock<StoredScript> = LazyLock::new(|| StoredScript::new(CLAIM_SOURCE));

/// Removes a claimed member if its score is still the claim's (no other worker re-claimed it
/// after the visibility timeout, and it was not rescheduled): 1, or 0.
pub const ACK_SOURCE: &str = r"
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
";
static ACK: LazyLock<StoredScript> = LazyLock::new(|| StoredScript::new(ACK_SOURCE));

/// How claimed timers are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A claimed timer fires again after the visibility timeout unless acknowledged
    /// ([`TimerQueue::ack`]): a worker that dies mid-work loses nothing.
    AtLeastOnce,
    /// A claimed timer is removed as it is claimed: a worker that dies mid-work loses it.
    AtMostOnce,
}

/// A timer claimed by this worker, with when it was due and when it was claimed, both on the
/// server's clock (so `lateness()` does not depend on this machine's clock).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedTimer<M> {
    /// The member.
    pub member: M,
    /// When it was due: its score before the claim.
    pub due: SystemTime,
    /// When it was claimed (the server's clock at the claim).
    pub claimed_at: SystemTime,
    /// When it fires again unless acknowledged (at-least-once); `None` for at-most-once, where
    /// the claim removed it.
    pub visible_again: Option<SystemTime>,
    /// The score it was given by the claim (empty for at-most-once): acknowledging compares it.
    claim: String,
}

impl<M> ClaimedTimer<M> {
    /// How late it was claimed: `claimed_at - due` (zero if claimed on time).
    pub fn lateness(&self) -> Duration {
        self.claimed_at.duration_since(self.due).unwrap_or(Duration::ZERO)
    }
}

/// A score in `per_second` units since the epoch as a time (the epoch for one that is not a
/// number or negative: scores the queue wrote are neither).
fn score_time(score: &[u8], per_second: u32) -> SystemTime {
    let units: f64 = std::str::from_utf8(score)
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|units: &f64| units.is_finite() && *units >= 0.0)
        .unwrap_or(0.0);
    // Rounded to the microsecond: scores carry at most three decimals of their unit.
    let micros = (units * 1_000_000.0 / f64::from(per_second.max(1))).round();
    UNIX_EPOCH + Duration::from_micros(micros as u64)
}

/// A timer queue: schedule, cancel, claim due timers.
pub struct TimerQueue<'s, C, S> {
    core: &'s Core,
    id: KeyId,
    key: String,
    per_second: u32,
    visibility: Duration,
    types: PhantomData<(C, S)>,
}

impl<'s, C: Codec, S: Score> TimerQueue<'s, C, S> {
    /// The queue at `key`, an instance of key definition `id` (generated code).
    pub fn new(core: &'s Core, id: KeyId, key: String) -> Self {
        let def = core.schema().keys.get(id.index());
        let per_second = match def.map(|d| &d.redis_type) {
            Some(RedisType::Zset {
                score: ScoreKind::TimeMs,
                ..
            }) => 1000,
            _ => 1,
        };
        let visibility = match def.and_then(|d| d.primitive.as_ref()) {
            Some(Primitive::Timers { visibility }) => Duration::from_millis(visibility.0),
            _ => Duration::from_secs(30),
        };
        Self {
            core,
            id,
            key,
            per_second,
            visibility,
            types: PhantomData,
        }
    }

    /// The formatted key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Schedules `member` to fire at `at` (rescheduling it if it is queued).
    pub async fn schedule(&self, member: &C::Value, at: &S) -> Result<()> {
        telemetry::observe(self.core, Op::on(self.id, op!("ZADD")), async move {
            let policy = self.core.policy(self.id);
            let write = Write::add_scored(
                policy,
                &self.key,
                vec![(at.to_score(), encode::<C>(&self.key, member)?)],
                policy.ttl,
            );
            self.core.apply(&write).await.map(drop)
        })
        .await
    }

    /// Cancels a timer; whether it was queued.
    pub async fn cancel(&self, member: &C::Value) -> Result<bool> {
        telemetry::observe(self.core, Op::on(self.id, op!("ZREM")), async move {
            let write = Write::remove("ZREM", &self.key, vec![encode::<C>(&self.key, member)?]);
            let removed: i64 = self.core.write_value(&write).await?;
            Ok(removed > 0)
        })
        .await
    }

    /// Claims up to `max` timers due by the server's clock, atomically: no other worker gets
    /// them, and none is claimed before its time.
    pub async fn claim_due(&self, max: usize, delivery: Delivery) -> Result<Vec<ClaimedTimer<C::Value>>> {
        telemetry::observe(self.core, Op::on(self.id, op!("TIMERS")), async move {
            let visibility = match delivery {
                Delivery::AtLeastOnce => crate::util::millis(self.visibility).to_string(),
                Delivery::AtMostOnce => "-1".to_string(),
            };
            let reply = self
                .core
                .run_script(
                    &CLAIM.call(&[&self.key]).arg(max).arg(self.per_second).arg(visibility),
                    &self.key,
                )
                .await?;
            let items: Vec<Vec<u8>> =
                redis::from_redis_value(reply).map_err(|e| Error::command(&self.key, "EVALSHA", e.into()))?;
            let Some((now, claimed)) = items.split_first() else {
                recording::decision("none_due");
                return Ok(Vec::new());
            };
            recording::decision(if claimed.is_empty() { "none_due" } else { "claimed" });
            let claimed_at = score_time(now, self.per_second);
            claimed
                .chunks_exact(3)
                .map(|timer| {
                    let claim = String::from_utf8_lossy(&timer[2]).into_owned();
                    Ok(ClaimedTimer {
                        member: decode::<C>(&self.key, &timer[0])?,
                        due: score_time(&timer[1], self.per_second),
                        claimed_at,
                        visible_again: (!claim.is_empty()).then(|| score_time(&timer[2], self.per_second)),
                        claim,
                    })
                })
                .collect()
        })
        .await
    }

    /// Acknowledges a claimed timer (at-least-once delivery): removes it, unless it was claimed
    /// again after its visibility timeout or rescheduled; whether it was removed.
    pub async fn ack(&self, timer: &ClaimedTimer<C::Value>) -> Result<bool> {
        telemetry::observe(self.core, Op::on(self.id, op!("ZREM")), async move {
            if timer.claim.is_empty() {
                return Ok(false);
            }
            let reply = self
                .core
                .run_script(
                    &ACK.call(&[&self.key])
                        .arg(encode::<C>(&self.key, &timer.member)?)
                        .arg(&timer.claim),
                    &self.key,
                )
                .await?;
            Ok(matches!(reply, redis::Value::Int(1)))
        })
        .await
    }

    /// How many timers are queued (due or not).
    pub async fn len(&self) -> Result<u64> {
        telemetry::observe(self.core, Op::on(self.id, op!("ZCARD")), async move {
            self.core
                .read(redis::cmd("ZCARD").arg(&self.key), &self.key, "ZCARD")
                .await
        })
        .await
    }

    /// Whether the queue is empty.
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }
}
