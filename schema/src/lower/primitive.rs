//! A primitive's settings (`limit 100`, `threshold 5`, `lease`) and the keys it declares
//! implicitly (a lock's fencing counter, a breaker's state), on the slot of the key they serve.

use super::{pattern, KeySpans, Lowerer};
use crate::diagnostics::Span;
use crate::diagnostics::{Code, Diagnostic};
use crate::model::{
    BreakerPolicy, CachePolicy, CacheStats, Codec, Companion, Fallback, KeyDef, KeyPattern, KeySchema, LockHold,
    Millis, Param, ParamType, PatternPart, Primitive, RateAlgorithm, RateLimitPolicy, RedisType, SingleFlight,
    StatePolicy, TtlOnWrite, TtlPolicy, SLOT_PARAM,
};
use crate::syntax::ast::{KeyDecl, KeyKeyword, Setting, Spanned};

/// The settings each kind of declaration accepts.
fn accepted(keyword: KeyKeyword) -> &'static [&'static str] {
    match keyword {
        KeyKeyword::Lock => &["lease"],
        KeyKeyword::RateLimit => &["limit", "rate", "per", "burst", "fallback"],
        KeyKeyword::Breaker => &["threshold", "open_for", "close_after"],
        KeyKeyword::Timers => &["visibility"],
        KeyKeyword::DlqIndex => &["cleanup"],
        KeyKeyword::Cache => &["stats", "single_flight", "refresh_early"],
        KeyKeyword::State => &["ttl_factor", "max_age"],
        KeyKeyword::Key | KeyKeyword::Index | KeyKeyword::Idempotency | KeyKeyword::DlqEntry => &[],
    }
}

/// Timers claimed and not acknowledged fire again after this long, unless declared.
const DEFAULT_VISIBILITY: Millis = Millis(30_000);
/// The shortest a fencing counter lives after the last acquisition.
const FENCE_TTL: Millis = Millis(86_400_000);
/// A state entry's TTL in collection intervals, unless declared.
const DEFAULT_TTL_FACTOR: u64 = 3;
/// How long a cache key's cross-instance load lock lives: a loader that takes longer lets
/// another instance load too (never a key locked for good by a crashed loader).
const CACHE_LOAD_LOCK: Millis = Millis(10_000);
/// Failures within the window that open a breaker, unless declared.
const DEFAULT_THRESHOLD: u64 = 5;

impl Lowerer<'_, '_> {
    /// The primitive `decl` declares, its settings checked. A GCRA rate limit sets `ttl`: each
    /// write gives its key the time until it is allowed again, at most the burst's span.
    /// `None` after reporting an error.
    pub(super) fn primitive(
        &mut self,
        decl: &KeyDecl,
        dlq: Option<&str>,
        ttl: &mut TtlPolicy,
    ) -> Option<Option<Primitive>> {
        let settings = self.settings(decl)?;
        let get = |name: &str| {
            settings
                .iter()
                .find(|s| s.name.value == name)
                .and_then(|s| s.value.as_ref())
        };
        Some(match decl.keyword {
            KeyKeyword::Key | KeyKeyword::Index => None,
            KeyKeyword::Idempotency => Some(Primitive::Idempotency),
            KeyKeyword::Lock => Some(Primitive::Lock {
                hold: if !settings.iter().any(|s| s.name.value == "lease") {
                    LockHold::Release
                } else {
                    LockHold::Lease
                },
            }),
            KeyKeyword::RateLimit => {
                let fallback = match get("fallback") {
                    None => Fallback::Local,
                    Some(word) => match Fallback::from_name(&word.value) {
                        Some(fallback) => fallback,
                        None => {
                            self.report(
                                Diagnostic::new(
                                    Code::InvalidOption,
                                    word.span,
                                    format!("unknown fallback `{}`", word.value),
                                )
                                .with_hint("a rate limit without Redis falls back to `open`, `closed` or `local`"),
                            );
                            return None;
                        }
                    },
                };
                let algorithm = match (get("limit"), get("rate")) {
                    (Some(limit), None) => {
                        for other in ["per", "burst"] {
                            if let Some(setting) = settings.iter().find(|s| s.name.value == other) {
                                self.report(
                                    Diagnostic::new(
                                        Code::InvalidOption,
                                        setting.name.span,
                                        format!("`{other}` belongs to a GCRA limit (`rate N per D burst B`)"),
                                    )
                                    .with_hint("a `limit N` counts hits per window: remove it, or use `rate`"),
                                );
                                return None;
                            }
                        }
                        RateAlgorithm::Window {
                            limit: self.positive(limit)?,
                        }
                    }
                    (None, Some(rate)) => {
                        let rate = self.positive(rate)?;
                        let period = match get("per") {
                            Some(per) => self.nonzero_duration(per)?,
                            None => Millis(1000),
                        };
                        let burst = match get("burst") {
                            Some(burst) => self.count(burst)?,
                            None => 0,
                        };
                        if !ttl.is_none() {
                            self.report(
                                Diagnostic::new(
                                    Code::InvalidOption,
                                    decl.pattern.span,
                                    "a GCRA rate limit's TTL follows from its rate",
                                )
                                .with_hint("remove the `ttl`: each decision keeps the key as long as it matters"),
                            );
                            return None;
                        }
                        // The key lives until its theoretical arrival time: at most one emission
                        // interval per request of the burst, plus one.
                        let interval = period.0.div_ceil(rate);
                        *ttl = TtlPolicy::PerWrite {
                            max: Box::new(TtlPolicy::Fixed {
                                millis: Millis(interval.saturating_mul(burst.saturating_add(1))),
                            }),
                        };
                        RateAlgorithm::Gcra { rate, period, burst }
                    }
                    (Some(_), Some(rate)) => {
                        self.report(
                            Diagnostic::new(
                                Code::InvalidOption,
                                rate.span,
                                "a rate limit has `limit` or `rate`, not both",
                            )
                            .with_hint("`limit N` counts hits per window; `rate N per D burst B` is GCRA"),
                        );
                        return None;
                    }
                    (None, None) => {
                        self.report(
                            Diagnostic::new(Code::Missing, decl.pattern.span, "a rate limit needs its limit")
                                .with_hint("add `limit 100` (hits per window) or `rate 100 per 1s burst 20` (GCRA)"),
                        );
                        return None;
                    }
                };
                Some(Primitive::RateLimit(RateLimitPolicy { algorithm, fallback }))
            }
            KeyKeyword::Breaker => {
                let threshold = match get("threshold") {
                    Some(threshold) => self.positive(threshold)?,
                    None => DEFAULT_THRESHOLD,
                };
                let close_after = match get("close_after") {
                    Some(n) => self.positive(n)?,
                    None => 1,
                };
                let open_for = match get("open_for") {
                    Some(d) => self.nonzero_duration(d)?,
                    // As long as failures are counted: the window's default.
                    None => ttl.default_millis().unwrap_or(Millis(30_000)),
                };
                Some(Primitive::Breaker(BreakerPolicy {
                    threshold,
                    open_for,
                    close_after,
                }))
            }
            KeyKeyword::Timers => Some(Primitive::Timers {
                visibility: match get("visibility") {
                    Some(d) => self.nonzero_duration(d)?,
                    None => DEFAULT_VISIBILITY,
                },
            }),
            KeyKeyword::Cache => {
                if ttl.is_none() {
                    self.report(
                        Diagnostic::new(Code::Missing, decl.pattern.span, "a cache needs its TTL")
                            .with_hint("add `ttl 5m`: a cached result that never expires is never refreshed"),
                    );
                    return None;
                }
                let stats = match get("stats").map(|w| (w, w.value.as_str())) {
                    None | Some((_, "local")) => CacheStats::Local,
                    Some((_, "shared")) => CacheStats::Shared,
                    Some((word, other)) => {
                        self.report(
                            Diagnostic::new(Code::InvalidOption, word.span, format!("unknown stats `{other}`"))
                                .with_hint("`stats local` counts in the process, `stats shared` across instances"),
                        );
                        return None;
                    }
                };
                let single_flight = match get("single_flight").map(|w| (w, w.value.as_str())) {
                    None | Some((_, "process")) => SingleFlight::Process,
                    Some((_, "instances")) => SingleFlight::Instances,
                    Some((word, other)) => {
                        self.report(
                            Diagnostic::new(
                                Code::InvalidOption,
                                word.span,
                                format!("unknown single_flight `{other}`"),
                            )
                            .with_hint("`single_flight process` (the default) or `single_flight instances`"),
                        );
                        return None;
                    }
                };
                Some(Primitive::Cache(CachePolicy {
                    stats,
                    single_flight,
                    refresh_early: settings.iter().any(|s| s.name.value == "refresh_early"),
                }))
            }
            KeyKeyword::State => {
                let TtlPolicy::PerWrite { max } = &*ttl else {
                    self.report(
                        Diagnostic::new(
                            Code::InvalidOption,
                            decl.pattern.span,
                            "a state backup's TTL is chosen per entry",
                        )
                        .with_hint(
                            "declare the bound: `ttl per_write(max = 6h)`; each entry lives `ttl_factor` collection intervals",
                        ),
                    );
                    return None;
                };
                let bound = max.default_millis();
                let ttl_factor = match get("ttl_factor") {
                    Some(n) => self.positive(n)?,
                    None => DEFAULT_TTL_FACTOR,
                };
                let Ok(ttl_factor) = u32::try_from(ttl_factor) else {
                    self.report(
                        Diagnostic::new(Code::InvalidOption, decl.pattern.span, "`ttl_factor` is too large")
                            .with_hint("a few collection intervals: `ttl_factor 3`"),
                    );
                    return None;
                };
                let max_age = match (get("max_age"), bound) {
                    (Some(d), _) => self.nonzero_duration(d)?,
                    // Nothing older than the longest an entry may live is worth restoring.
                    (None, Some(bound)) => bound,
                    (None, None) => {
                        self.report(
                            Diagnostic::new(Code::Missing, decl.pattern.span, "a state backup needs its `max_age`")
                                .with_hint("say how old a backup may be and still be restored: `max_age 2h`"),
                        );
                        return None;
                    }
                };
                Some(Primitive::State(StatePolicy { ttl_factor, max_age }))
            }
            KeyKeyword::DlqEntry => Some(Primitive::DlqEntry {
                queue: dlq.unwrap_or_default().to_string(),
            }),
            // The cleanup lock is resolved by name once every key is known.
            KeyKeyword::DlqIndex => Some(Primitive::DlqIndex {
                queue: dlq.unwrap_or_default().to_string(),
                cleanup: None,
            }),
        })
    }

    /// The declaration's settings, each accepted by its kind and given once.
    fn settings<'d>(&mut self, decl: &'d KeyDecl) -> Option<&'d [Setting]> {
        let accepted = accepted(decl.keyword);
        let mut ok = true;
        for (i, setting) in decl.settings.iter().enumerate() {
            let name = setting.name.value.as_str();
            if !accepted.contains(&name) {
                let hint = if accepted.is_empty() {
                    "this kind of key has no settings".to_string()
                } else {
                    format!("settings here: {}", accepted.join(", "))
                };
                self.report(
                    Diagnostic::new(
                        Code::InvalidOption,
                        setting.name.span,
                        format!("`{name}` does not apply to {}", kind_name(decl.keyword)),
                    )
                    .with_hint(hint),
                );
                ok = false;
            } else if let Some(first) = decl.settings[..i].iter().find(|s| s.name.value == name) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateName,
                        setting.name.span,
                        format!("`{name}` is given twice"),
                    )
                    .with_hint("keep one")
                    .with_label(first.name.span, "first given here"),
                );
                ok = false;
            }
        }
        ok.then_some(decl.settings.as_slice())
    }

    /// A whole number of at least one.
    fn positive(&mut self, word: &Spanned<String>) -> Option<u64> {
        match word.value.parse::<u64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidOption,
                        word.span,
                        format!("`{}` is not a positive number", word.value),
                    )
                    .with_hint("write a whole number such as `5`"),
                );
                None
            }
        }
    }

    /// A whole number, zero allowed.
    fn count(&mut self, word: &Spanned<String>) -> Option<u64> {
        if word.value == "0" {
            return Some(0);
        }
        self.positive(word)
    }

    /// A dead-letter index's `cleanup LOCK`: the lock pruning runs under.
    pub(super) fn resolve_cleanup_locks(&mut self, schema: &mut KeySchema, cleanups: &[(usize, &Spanned<String>)]) {
        for &(index, name) in cleanups {
            match schema.keys.iter().position(|key| key.name == name.value) {
                Some(lock) if matches!(schema.keys[lock].primitive, Some(Primitive::Lock { .. })) => {
                    if let Some(Primitive::DlqIndex { cleanup, .. }) = &mut schema.keys[index].primitive {
                        *cleanup = Some(lock);
                    }
                }
                Some(_) => self.report(
                    Diagnostic::new(
                        Code::UnknownReference,
                        name.span,
                        format!("`{}` is not a lock", name.value),
                    )
                    .with_hint("`cleanup` names the lock pruning runs under: `cleanup cordum_dlq_cleanup`"),
                ),
                None if self.failed_keys.contains(&name.value) => {}
                None => self.report(
                    Diagnostic::new(
                        Code::UnknownReference,
                        name.span,
                        format!("no key named `{}`", name.value),
                    )
                    .with_hint("`cleanup` names a lock by its code name (`cordum_dlq_cleanup`)"),
                ),
            }
        }
    }
}

fn kind_name(keyword: KeyKeyword) -> &'static str {
    match keyword {
        KeyKeyword::Key => "a plain key",
        KeyKeyword::Index => "an index",
        KeyKeyword::Lock => "a lock",
        KeyKeyword::RateLimit => "a rate limit",
        KeyKeyword::Breaker => "a breaker",
        KeyKeyword::Idempotency => "an idempotency key",
        KeyKeyword::Timers => "a timer queue",
        KeyKeyword::Cache => "a cache",
        KeyKeyword::State => "a state backup",
        KeyKeyword::DlqEntry => "a dead-letter entry",
        KeyKeyword::DlqIndex => "a dead-letter index",
    }
}

/// Appends the keys primitives declare implicitly: `<lock>_fence` (a lock's fencing counter),
/// `<breaker>_state` (a breaker's open state), `<cache>_loading` (a cache key's load lock across
/// instances) and `<cache>_stats` (a cache's shared counts, one literal key per cache). Each
/// per-key companion is on its key's slot: a tagged key's companion keeps the tag
/// (`cordum:wf:run:lock:{<runID>}:fence`), an untagged key's companion is tagged by the whole key
/// (`{cordum:reconciler:default}:fence`), which hashes like it.
pub(super) fn add_companions(schema: &mut KeySchema, key_spans: &mut Vec<KeySpans>, param_spans: &mut Vec<Span>) {
    let watermarks = has_slot_param(schema, param_spans);
    for of in 0..schema.keys.len() {
        let roles: &[Companion] = match schema.keys[of].primitive {
            Some(Primitive::Lock { .. }) if watermarks => &[Companion::Fence, Companion::Watermark],
            Some(Primitive::Lock { .. }) => &[Companion::Fence],
            Some(Primitive::Breaker(_)) => &[Companion::BreakerState],
            Some(Primitive::Cache(policy)) => match (policy.single_flight, policy.stats) {
                (SingleFlight::Process, CacheStats::Local) => &[],
                (SingleFlight::Instances, CacheStats::Local) => &[Companion::CacheLoad],
                (SingleFlight::Process, CacheStats::Shared) => &[Companion::CacheStats],
                (SingleFlight::Instances, CacheStats::Shared) => &[Companion::CacheLoad, Companion::CacheStats],
            },
            _ => continue,
        };
        for &role in roles {
            let Some(companion) = companion(schema, of, role) else {
                continue;
            };
            if let Some(group) = companion.group {
                schema.groups[group].keys.push(schema.keys.len());
            }
            key_spans.push(KeySpans {
                pattern: key_spans[of].pattern,
            });
            schema.keys.push(companion);
        }
    }
}

/// Declares the slot parameter of fence watermarks ([`SLOT_PARAM`], an integer) when the schema
/// has a lock; whether watermarks can be declared (not when the schema gave the reserved name
/// another type: guarded writes off a lock's slot are then refused as cross-slot).
fn has_slot_param(schema: &mut KeySchema, param_spans: &mut Vec<Span>) -> bool {
    if !schema
        .keys
        .iter()
        .any(|key| matches!(key.primitive, Some(Primitive::Lock { .. })))
    {
        return false;
    }
    match schema.param_index(SLOT_PARAM) {
        Some(index) => schema.params[index].ty == ParamType::Int,
        None => {
            schema.params.push(Param {
                name: SLOT_PARAM.to_string(),
                ty: ParamType::Int,
                except: Vec::new(),
                spans: false,
                layouts: Vec::new(),
            });
            param_spans.push(Span::default());
            true
        }
    }
}

/// The implicit key `role` of key `of`.
fn companion(schema: &KeySchema, of: usize, role: Companion) -> Option<KeyDef> {
    let separator = schema.separator;
    let key = &schema.keys[of];
    let template = match role {
        // One per cache, not per key: a literal key named after the cache.
        Companion::CacheStats => format!(
            "{keyspace}{separator}cache{separator}stats{separator}{name}",
            keyspace = schema.keyspace,
            name = key.name
        ),
        Companion::Watermark => Companion::watermark_for(&key.pattern.template, separator, &format!("<{SLOT_PARAM}>")),
        _ => role.key_for(&key.pattern.template, key.pattern.hash_tag.is_some(), separator),
    };
    // The key's pattern was valid, so its companion's is: only braces and literals were added.
    let mut ignored = Vec::new();
    let (raw, tag) = pattern::split_pattern(&template, 0, &mut ignored)?;
    let parts = raw
        .into_iter()
        .filter_map(|part| match part {
            pattern::RawPart::Literal(text) => Some(PatternPart::Literal(text)),
            pattern::RawPart::Param { name, .. } => schema.param_index(name).map(PatternPart::Param),
        })
        .collect();
    let open_for = match &key.primitive {
        Some(Primitive::Breaker(policy)) => policy.open_for,
        _ => Millis(0),
    };
    let int_fields = |names: &[&str]| RedisType::Hash {
        fields: names
            .iter()
            .map(|name| crate::model::HashField {
                name: (*name).to_string(),
                codec: Codec::Int,
            })
            .collect(),
        entries: None,
    };
    // Tokens also never fall below the server's clock in microseconds, so a counter that
    // expired does not hand out old tokens again; it lives long enough that a guarded write
    // always finds the newest token (a day, or ten lock TTLs). A watermark lives as long: a stale
    // holder's write must find it.
    let fence_ttl = TtlPolicy::Fixed {
        millis: Millis(
            key.ttl
                .default_millis()
                .map_or(0, |ttl| ttl.0.saturating_mul(10))
                .max(FENCE_TTL.0),
        ),
    };
    let (redis_type, ttl, purpose) = match role {
        Companion::Fence => (
            RedisType::String { codec: Codec::Int },
            fence_ttl,
            format!(
                "Fencing token counter of `{}` (implicit): grows with every acquisition",
                key.name
            ),
        ),
        Companion::Watermark => (
            RedisType::String { codec: Codec::Int },
            fence_ttl,
            format!(
                "Highest fencing token of `{}` that guarded writes on one slot carried (implicit)",
                key.name
            ),
        ),
        Companion::BreakerState => (
            int_fields(&["opened_until", "probe_until", "successes"]),
            // Each transition sets it: open for `open_for`, then as long again for a probe.
            TtlPolicy::PerWrite {
                max: Box::new(TtlPolicy::Fixed {
                    millis: Millis(open_for.0.saturating_mul(2)),
                }),
            },
            format!("Open / half-open state of breaker `{}` (implicit)", key.name),
        ),
        Companion::CacheLoad => (
            RedisType::String { codec: Codec::Text },
            TtlPolicy::Fixed {
                millis: CACHE_LOAD_LOCK,
            },
            format!("Lock of one load of cache `{}` across instances (implicit)", key.name),
        ),
        Companion::CacheStats => (
            int_fields(&["hits", "misses", "loads", "load_errors", "fallbacks"]),
            // A handful of counters per cache: bounded, and kept while the service runs.
            TtlPolicy::None,
            format!(
                "Hit and miss counts of cache `{}` across instances (implicit)",
                key.name
            ),
        ),
    };
    Some(KeyDef {
        name: format!("{}_{}", key.name, role.suffix()),
        pattern: KeyPattern {
            hash_tag: pattern::hash_tag(&template, tag),
            template,
            parts,
        },
        redis_type,
        ttl,
        ttl_on_write: TtlOnWrite::Refresh,
        purpose,
        // A watermark is on the slot of the keys it guards, not on its lock's.
        group: if role == Companion::Watermark { None } else { key.group },
        primitive: Some(Primitive::Companion { of, role }),
        owner: key.owner.clone(),
        max_value: None,
        span: key.span,
    })
}
