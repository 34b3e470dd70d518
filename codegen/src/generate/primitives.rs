//! The handles of primitives: a `lock` key gives a `Lock` (or a `Lease`), a `ratelimit` key a
//! `RateLimit` (one per server second when its pattern holds the window's `unix_seconds`), a
//! `breaker` a `Breaker`, `idempotency` an `IdempotencyKey`, `timers` a `TimerQueue`, a `cache`
//! key a `CacheKey` (with `invalidate_<cache>` and `stats_<cache>` on the store), and each `dlq` a
//! `DeadLetterQueue` method named after the queue.

use super::{doc, Generator, RT};
use crate::names::{pascal, snake};
use keyschema::{Codec, KeyDef, LockHold, ParamType, Primitive, RedisType};
use std::fmt::Write as _;

macro_rules! line {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

impl Generator<'_> {
    /// The handle type of a primitive key and the runtime type that builds it; `None` for keys
    /// without a primitive runtime (plain keys, indexes, companions, DLQ keys).
    pub(super) fn primitive_handle(&self, key: &KeyDef) -> Option<(String, &'static str)> {
        Some(match (&key.primitive, &key.redis_type) {
            (
                Some(Primitive::Lock {
                    hold: LockHold::Release,
                }),
                _,
            ) => (format!("{RT}::Lock<'_>"), "Lock"),
            (Some(Primitive::Lock { hold: LockHold::Lease }), _) => (format!("{RT}::Lease<'_>"), "Lease"),
            (Some(Primitive::RateLimit(_)), _) => (format!("{RT}::RateLimit<'_>"), "RateLimit"),
            (Some(Primitive::Breaker(_)), _) => (format!("{RT}::Breaker<'_>"), "Breaker"),
            (Some(Primitive::Idempotency), RedisType::String { codec }) => (
                format!("{RT}::IdempotencyKey<'_, {}>", self.codec_type(codec)),
                "IdempotencyKey",
            ),
            (Some(Primitive::Cache(_)), RedisType::String { codec }) => {
                (format!("{RT}::CacheKey<'_, {}>", self.codec_type(codec)), "CacheKey")
            }
            (Some(Primitive::Timers { .. }), RedisType::Zset { member, score, .. }) => (
                format!(
                    "{RT}::TimerQueue<'_, {}, {}>",
                    self.codec_type(member),
                    self.score_type(*score)
                ),
                "TimerQueue",
            ),
            _ => return None,
        })
    }

    /// `invalidate_<cache>(&[("tenant", "acme")])` and `stats_<cache>()` beside a cache's
    /// accessor.
    pub(super) fn cache_methods(&self, out: &mut String, key: &KeyDef) {
        let name = snake(&key.name);
        let key_type = format!("{}Key", pascal(&key.name));
        let params: Vec<String> = key
            .pattern
            .params()
            .map(|p| format!("`{}`", self.schema.params[p].name))
            .collect();
        line!(out, "");
        doc(
            out,
            &format!(
                "Removes every key of `{}` whose parameters named in `fixed` ({}) have those values \
                 (none: every key), on every primary; how many were removed.",
                key.pattern.template,
                params.join(", ")
            ),
        );
        line!(
            out,
            "    pub async fn invalidate_{name}(&self, fixed: &[(&str, &str)]) -> {RT}::Result<u64> {{"
        );
        line!(out, "        self.store.invalidate({key_type}::ID, fixed).await");
        line!(out, "    }}");
        line!(out, "");
        doc(
            out,
            &format!("Hits, misses, loads and fallbacks of the `{}` cache.", key.name),
        );
        line!(
            out,
            "    pub async fn stats_{name}(&self) -> {RT}::Result<{RT}::CacheStats> {{"
        );
        line!(out, "        self.store.cache_stats({key_type}::ID).await");
        line!(out, "    }}");
    }

    /// `store.ctx_context_tier()`: the two-tier state of a `state` key, keyed by its key struct.
    pub(super) fn two_tier(&self, out: &mut String, key: &KeyDef, codec: &Codec) {
        let key_type = format!("{}Key", pascal(&key.name));
        line!(out, "");
        doc(out, &key.purpose);
        line!(out, "    ///");
        doc(
            out,
            &format!(
                "`{}`: entries kept in this process, backed up here with a TTL of their interval times \
                 the declared factor ({}). Keep the one this returns for the life of the process.",
                key.pattern.template, key.ttl
            ),
        );
        line!(
            out,
            "    pub fn {}_tier(&self) -> {RT}::TwoTier<{key_type}, {}> {{",
            snake(&key.name),
            self.codec_type(codec)
        );
        line!(
            out,
            "        match {RT}::TwoTier::new(self.store.core(), {key_type}::ID, {key_type}::to_key) {{"
        );
        line!(out, "            Some(tier) => tier,");
        line!(
            out,
            "            // The embedded schema declares `{}` a `state` key, which is what `new` checks.",
            key.name
        );
        line!(
            out,
            "            None => unreachable!(\"`{}` is a state key\"),",
            key.name
        );
        line!(out, "        }}");
        line!(out, "    }}");
    }

    /// The window parameter of a rate limit counted per server second: the pattern's last
    /// `unix_seconds` parameter.
    pub(super) fn rate_window(&self, key: &KeyDef) -> Option<usize> {
        if !matches!(key.primitive, Some(Primitive::RateLimit(_))) {
            return None;
        }
        key.pattern
            .params()
            .filter(|&p| {
                matches!(self.schema.params[p].ty, ParamType::UnixSeconds) && self.schema.params[p].layouts.is_empty()
            })
            .last()
    }

    /// `store.cordum_rl(tenant)`: a rate limit whose key the runtime forms for each server
    /// second, from the other parameters.
    pub(super) fn windowed_rate_limit(&self, out: &mut String, key: &KeyDef, window: usize) {
        let key_type = format!("{}Key", pascal(&key.name));
        let params: Vec<usize> = key.pattern.params().filter(|&p| p != window).collect();
        line!(out, "");
        doc(out, &key.purpose);
        line!(out, "    ///");
        doc(
            out,
            &format!(
                "`{}`: counted per second of the server's clock (`{}`), {}.",
                key.pattern.template,
                self.schema.params[window].name,
                super::ttl_phrase(key)
            ),
        );
        let args: Vec<String> = params
            .iter()
            .map(|&p| {
                let ty = if self.is_string(p) {
                    "impl Into<String>".to_string()
                } else {
                    self.rust_type(p)
                };
                format!("{}: {ty}", snake(&self.schema.params[p].name))
            })
            .collect();
        line!(
            out,
            "    pub fn {}(&self, {}) -> {RT}::RateLimit<'_> {{",
            snake(&key.name),
            args.join(", ")
        );
        for &p in &params {
            if self.is_string(p) {
                let field = snake(&self.schema.params[p].name);
                line!(out, "        let {field}: String = {field}.into();");
            }
        }
        let mut fields: Vec<String> = params
            .iter()
            .map(|&p| {
                let field = snake(&self.schema.params[p].name);
                if self.is_copy(p) {
                    field
                } else {
                    format!("{field}: {field}.clone()")
                }
            })
            .collect();
        fields.push(format!(
            "{}: {RT}::chrono::DateTime::from_timestamp(second, 0).unwrap_or_default()",
            snake(&self.schema.params[window].name)
        ));
        let format = format!("{key_type} {{ {} }}.to_key()", fields.join(", "));
        let format = if self.key_infallible(key) {
            format!("Ok({format})")
        } else {
            format
        };
        let bridged = self.key_index(key);
        if self.bridge(bridged).is_some() {
            // The previous layout's key of the same second, from clones of the same values.
            let previous = format!("{key_type} {{ {} }}.to_previous_key()", fields.join(", "));
            for &p in &params {
                if !self.is_copy(p) {
                    let field = snake(&self.schema.params[p].name);
                    line!(out, "        let previous_{field} = {field}.clone();");
                }
            }
            let previous = params.iter().fold(previous, |text, &p| {
                let field = snake(&self.schema.params[p].name);
                if self.is_copy(p) {
                    text
                } else {
                    text.replace(
                        &format!("{field}: {field}.clone()"),
                        &format!("{field}: previous_{field}.clone()"),
                    )
                }
            });
            line!(
                out,
                "        {RT}::RateLimit::per_second(self.store.core(), {key_type}::ID, move |second| {format})"
            );
            line!(out, "            .bridged_per_second(move |second| {previous})");
        } else {
            line!(
                out,
                "        {RT}::RateLimit::per_second(self.store.core(), {key_type}::ID, move |second| {format})"
            );
        }
        line!(out, "    }}");
    }

    /// A method per dead-letter queue, named after it, for queues whose entry key is formed
    /// from the index member alone and whose index key has no parameter.
    pub(super) fn dead_letter_queues(&self, out: &mut String) {
        for index in &self.schema.keys {
            let (Some(Primitive::DlqIndex { queue, cleanup }), RedisType::Zset { member, score, .. }) =
                (&index.primitive, &index.redis_type)
            else {
                continue;
            };
            let Some(entry) = self.schema.dlq_entry(queue).map(|entry| &self.schema.keys[entry]) else {
                continue;
            };
            let entry_params: Vec<usize> = entry.pattern.params().collect();
            let (RedisType::String { codec }, [id_param], true) = (
                &entry.redis_type,
                entry_params.as_slice(),
                index.pattern.params().next().is_none(),
            ) else {
                continue;
            };
            let entry_type = format!("{}Key", pascal(&entry.name));
            let index_type = format!("{}Key", pascal(&index.name));
            let field = snake(&self.schema.params[*id_param].name);
            let id = if self.is_copy(*id_param) { "*id" } else { "id.clone()" };
            let format = format!("{entry_type} {{ {field}: {id} }}.to_key()");
            let format = if self.key_infallible(entry) {
                format!("Ok({format})")
            } else {
                format
            };
            let cleanup = match cleanup.map(|lock| &self.schema.keys[lock]) {
                Some(lock) if lock.pattern.params().next().is_none() => {
                    let lock_type = format!("{}Key", pascal(&lock.name));
                    format!("Some({RT}::Lock::new(self.store.core(), {lock_type}::ID, {lock_type}.to_key()))")
                }
                _ => "None".to_string(),
            };
            line!(out, "");
            doc(
                out,
                &format!(
                    "Dead-letter queue `{queue}`: entries `{}` ({}), index `{}`.",
                    entry.pattern.template, entry.purpose, index.pattern.template
                ),
            );
            line!(
                out,
                "    pub fn {}(&self) -> {RT}::DeadLetterQueue<'_, {}, {}, {}> {{",
                snake(queue),
                self.codec_type(member),
                self.codec_type(codec),
                self.score_type(*score)
            );
            line!(out, "        {RT}::DeadLetterQueue::new(");
            line!(out, "            self.store.core(),");
            line!(out, "            {entry_type}::ID,");
            line!(out, "            |id: &{}| {format},", self.rust_type(*id_param));
            line!(out, "            {index_type}::ID,");
            line!(out, "            {index_type}.to_key(),");
            line!(out, "            {cleanup},");
            line!(out, "        )");
            line!(out, "    }}");
        }
    }
}
