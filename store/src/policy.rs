//! Per-key policies, resolved once at start-up: everything a write of a key does besides
//! writing (its TTL, whether it keeps an existing one, its cap, its time-window trim). Writes read
//! the policy; they never look at the schema again.

use crate::error::{Error, Result};
use keyschema::{Companion, KeySchema, RedisType, ScoreKind, TtlOnWrite};
use std::time::Duration;

/// The largest argument a server takes by default (`proto-max-bulk-len`, 512 MB): the limit of a
/// value whose key declares none. Sent anyway, a larger one is refused with a protocol error
/// that can leave the connection unusable for the next, unrelated call.
pub(crate) const SERVER_MAX_ARG: usize = 512 * 1024 * 1024;

/// A key definition of the schema, as generated code names it (`JobStateKey::ID`). The number
/// is an index into the model the generated module carries; `connect` checks that module's
/// fingerprint, so an id cannot silently name another key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(u32);

impl KeyId {
    /// The id of the key at `index` in [`KeySchema::keys`] (generated code).
    pub const fn new(index: u32) -> Self {
        Self(index)
    }

    /// The id of the key named `name` (`job_state`) in `schema`.
    pub fn of(schema: &KeySchema, name: &str) -> Option<Self> {
        let index = schema.keys.iter().position(|key| key.name == name)?;
        u32::try_from(index).ok().map(Self)
    }

    /// The id of the key at `index` in [`KeySchema::keys`], for code that walks the model.
    #[cfg(feature = "ops")]
    pub(crate) fn from_index(index: usize) -> Self {
        // Never saturates: every key takes bytes of schema text, far fewer than 2^32 of them.
        Self(u32::try_from(index).unwrap_or(u32::MAX))
    }

    /// The index in [`KeySchema::keys`].
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Scores of a sorted set scored by time, for trimming members older than its TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeScore {
    Seconds,
    Millis,
}

/// What every write of one key definition applies, resolved from the schema and the
/// environment once.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KeyPolicy {
    /// The key definition's name (`job_state`).
    pub name: String,
    /// The TTL a write applies; for keys whose TTL is chosen per write, the bound (used by a
    /// write that chooses none).
    pub ttl: Option<Duration>,
    /// Whether each write may choose its TTL, up to [`KeyPolicy::ttl`].
    pub ttl_per_write: bool,
    /// Whether writes keep the TTL an existing key has (`keepttl`): a key without one gets it.
    pub keep_ttl: bool,
    /// The most elements a list, sorted set or stream keeps.
    pub cap: Option<u64>,
    /// The largest value (member, field, entry) a write may send, in bytes: the schema's `max`,
    /// or the server's 512 MB limit on one argument.
    pub max_value: usize,
    pub(crate) time_score: Option<TimeScore>,
    /// The implicit keys serving this one (its fence counter, its breaker state...), found once.
    pub(crate) companions: Vec<(Companion, KeyId)>,
    /// Whether the pattern has a hash tag (a companion key keeps it rather than adding one).
    pub(crate) tagged: bool,
    pub(crate) separator: char,
}

impl KeyPolicy {
    /// The TTL of one write: `chosen` when the key allows it and it is within the bound.
    pub(crate) fn ttl_for(&self, key: &str, chosen: Option<Duration>) -> Result<Option<Duration>> {
        let Some(chosen) = chosen else { return Ok(self.ttl) };
        let refuse = |reason: String| Error::TtlNotAllowed {
            key: key.to_string(),
            requested: chosen,
            reason,
        };
        match self.ttl {
            _ if !self.ttl_per_write => Err(refuse(format!(
                "`{}` declares its TTL; only keys declared `ttl per_write(max = ...)` choose one per write",
                self.name
            ))),
            _ if chosen.as_millis() == 0 => Err(refuse("a TTL of zero would delete the key at once".into())),
            Some(max) if chosen > max => Err(refuse(format!("`{}` allows at most {max:?}", self.name))),
            _ => Ok(Some(chosen)),
        }
    }

    /// The implicit key serving this one in `role`, if the schema declares it.
    pub(crate) fn companion(&self, role: Companion) -> Option<KeyId> {
        self.companions.iter().find_map(|(r, id)| (*r == role).then_some(*id))
    }

    /// The companion of `key` (a key of this definition) in `role`: the key the schema declares
    /// for it ([`KeySchema::companion_key`]).
    pub(crate) fn companion_key(&self, key: &str, role: Companion) -> String {
        role.key_for(key, self.tagged, self.separator)
    }

    /// For a sorted set scored by time with a TTL: the score below which members are older than
    /// the TTL (trimmed on every write, so a time index never holds what expired elsewhere).
    pub(crate) fn expired_before(&self) -> Option<f64> {
        let ttl = self.ttl?;
        let unit = self.time_score?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        let cutoff = now.checked_sub(ttl)?;
        Some(match unit {
            TimeScore::Seconds => cutoff.as_secs_f64(),
            TimeScore::Millis => cutoff.as_millis() as f64,
        })
    }
}

/// The policies of every key definition of a schema, by [`KeyId`].
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPolicies {
    per_key: Vec<KeyPolicy>,
}

impl KeyPolicies {
    /// Resolves every key's policy, TTLs from the process environment. A variable with a bad
    /// value (not a number, zero, overflowing) is an error now, naming the key and the variable,
    /// never a silent default later.
    pub fn from_env(schema: &KeySchema) -> Result<Self> {
        Self::from_lookup(schema, |var| std::env::var(var).ok())
    }

    /// Resolves every key's policy with `lookup` giving variables (tests, configuration files).
    pub fn from_lookup(schema: &KeySchema, lookup: impl Fn(&str) -> Option<String> + Copy) -> Result<Self> {
        let mut companions: Vec<Vec<(Companion, KeyId)>> = vec![Vec::new(); schema.keys.len()];
        for (index, key) in schema.keys.iter().enumerate() {
            if let Some(keyschema::Primitive::Companion { of, role }) = key.primitive {
                if let (Some(list), Ok(index)) = (companions.get_mut(of), u32::try_from(index)) {
                    list.push((role, KeyId(index)));
                }
            }
        }
        let per_key = schema
            .keys
            .iter()
            .zip(companions)
            .map(|(key, companions)| {
                let ttl = key
                    .ttl
                    .resolve(lookup)
                    .map_err(|source| Error::Ttl {
                        key: key.name.clone(),
                        source,
                    })?
                    .map(|millis| Duration::from_millis(millis.0));
                let (cap, time_score) = match &key.redis_type {
                    RedisType::List { cap, .. } | RedisType::Stream { cap, .. } => (*cap, None),
                    RedisType::Zset { cap, score, .. } => (
                        *cap,
                        match score {
                            ScoreKind::Time => Some(TimeScore::Seconds),
                            ScoreKind::TimeMs => Some(TimeScore::Millis),
                            ScoreKind::Int | ScoreKind::Float => None,
                        },
                    ),
                    _ => (None, None),
                };
                Ok(KeyPolicy {
                    name: key.name.clone(),
                    ttl,
                    ttl_per_write: key.ttl.is_per_write(),
                    keep_ttl: key.ttl_on_write == TtlOnWrite::Keep,
                    cap,
                    max_value: key
                        .max_value
                        .map_or(SERVER_MAX_ARG, |max| usize::try_from(max).unwrap_or(usize::MAX)),
                    time_score,
                    companions,
                    tagged: key.pattern.hash_tag.is_some(),
                    separator: schema.separator,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self { per_key })
    }

    /// The policy of `id`.
    ///
    /// # Panics
    /// If `id` is not a key of the schema these policies were resolved from: ids come from the
    /// generated module whose model the store was built with, so they are in range.
    pub fn get(&self, id: KeyId) -> &KeyPolicy {
        &self.per_key[id.index()]
    }

    /// The resolved TTL of `id`.
    pub fn ttl(&self, id: KeyId) -> Option<Duration> {
        self.per_key.get(id.index()).and_then(|policy| policy.ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn companions_are_resolved_once_with_their_keys() {
        let source =
            "keyspace t\nparam id ident\nlock app:{<id>}:lock ttl 10s \"L\"\nlock app:leader ttl 10s \"Leader\"\n";
        let schema = keyschema::Schema::parse(source, "t.keys").unwrap();
        let model = schema.model();
        let policies = KeyPolicies::from_lookup(model, |_| None).unwrap();
        for name in ["app_lock", "app_leader"] {
            let id = KeyId::of(model, name).unwrap();
            let policy = policies.get(id);
            let fence = policy.companion(Companion::Fence).unwrap();
            assert_eq!(Some(fence.index()), model.companion(id.index(), Companion::Fence));
            assert_eq!(policy.companion(Companion::BreakerState), None);
        }
        let tagged = policies.get(KeyId::of(model, "app_lock").unwrap());
        assert_eq!(
            tagged.companion_key("app:{7}:lock", Companion::Fence),
            "app:{7}:lock:fence"
        );
        let untagged = policies.get(KeyId::of(model, "app_leader").unwrap());
        assert_eq!(
            untagged.companion_key("app:leader", Companion::Fence),
            "{app:leader}:fence"
        );
        // The same keys the schema derives.
        assert_eq!(
            untagged.companion_key("app:leader", Companion::Fence),
            model.companion_key(
                KeyId::of(model, "app_leader").unwrap().index(),
                "app:leader",
                Companion::Fence
            )
        );
    }
}
