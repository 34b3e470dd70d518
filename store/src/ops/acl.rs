//! Redis ACL rules per service, from the schema's `service` blocks: the keys a service reads
//! as read-only key patterns (`%R~glob`), the keys it writes as read-write ones (`~glob`), the
//! keys their calls touch with them (a lock's fencing counter, a cache's load lock, an entity's
//! index keys), and exactly the commands the store sends for those keys ([`key_commands`], by
//! [`KeyClass`]). Redis 7.0 or newer (`%R~`).
//!
//! A key pattern becomes the Redis glob of its pattern with every parameter free, so a glob can
//! match keys of another pattern with the same shape (`job:*:output_decision` also matches a
//! `job:<a>:<b>` key): ACLs are only as exact as the layout's literals make them.

use crate::policy::KeyId;
use keyschema::{
    CacheStats, KeySchema, Primitive, RateAlgorithm, RedisKind, RedisType, ScoreKind, SingleFlight, TtlOnWrite,
    TtlPolicy,
};
use std::collections::BTreeSet;

/// Commands a store's connection may send whatever its keys: the cluster's topology
/// (`CLUSTER SLOTS`, and `PING` to check a node it connects to), `ASKING` while a slot moves,
/// `READONLY` for reads from replicas, and `WAIT` for durable writes. Every user gets them.
pub const CONNECTION_COMMANDS: &[&str] = &["asking", "cluster|slots", "ping", "readonly", "wait"];

/// How the store runs a script: by hash, loading it when the server does not have it.
const SCRIPTING: &[&str] = &["evalsha", "script|load"];

/// How a service uses a key (its `reads` or `writes`/`uses` in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyAccess {
    /// Only the store's reads of the key.
    Read,
    /// Every call of the store on the key.
    Write,
}

/// What the commands the store sends for a key depend on: its Redis type and the features of
/// its writes, or its primitive. Two keys of one class need the same commands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyClass {
    /// A key holding data (a plain key, an index, a slot group's member).
    Data {
        /// Its Redis type.
        kind: RedisKind,
        /// A hash of declared fields (a record), rather than a map.
        record: bool,
        /// Writes set a TTL.
        expires: bool,
        /// Writes keep the TTL a key has (`keepttl`).
        keeps_ttl: bool,
        /// Writes trim it to a cap.
        capped: bool,
        /// Writes drop members scored older than its TTL (a sorted set scored by time).
        trimmed: bool,
        /// Written in its slot group's transaction too (a script).
        transaction: bool,
        /// Written with the index that lists it: the index's Redis type, and whether its writes
        /// drop members older than its TTL.
        indexed_by: Option<(RedisKind, bool)>,
    },
    /// A lock or leader lease.
    Lock,
    /// A rate limit counted per window.
    RateWindow,
    /// A rate limit by the generic cell rate algorithm.
    RateGcra,
    /// A circuit breaker.
    Breaker,
    /// An idempotency key.
    Idempotency,
    /// A timer queue.
    Timers,
    /// A cache key and how it keeps its counts and loads.
    Cache {
        /// Hit and miss counts kept in Redis.
        shared_stats: bool,
        /// One load at a time across instances (a load lock).
        across_instances: bool,
        /// Entries refreshed before they expire.
        refresh_early: bool,
    },
    /// A two-tier state backup.
    State,
    /// A dead-letter queue (its entries or its index).
    DeadLetters,
    /// A key declared for another key's primitive: used through that primitive.
    Companion,
}

/// The class of key `id`: what its commands depend on.
pub fn key_class(schema: &KeySchema, id: KeyId) -> KeyClass {
    let index = id.index();
    let key = &schema.keys[index];
    match &key.primitive {
        Some(Primitive::Companion { .. }) => KeyClass::Companion,
        Some(Primitive::Lock { .. }) => KeyClass::Lock,
        Some(Primitive::RateLimit(policy)) => match policy.algorithm {
            RateAlgorithm::Window { .. } => KeyClass::RateWindow,
            RateAlgorithm::Gcra { .. } => KeyClass::RateGcra,
        },
        Some(Primitive::Breaker(_)) => KeyClass::Breaker,
        Some(Primitive::Idempotency) => KeyClass::Idempotency,
        Some(Primitive::Timers { .. }) => KeyClass::Timers,
        Some(Primitive::Cache(policy)) => KeyClass::Cache {
            shared_stats: policy.stats == CacheStats::Shared,
            across_instances: policy.single_flight == SingleFlight::Instances,
            refresh_early: policy.refresh_early,
        },
        Some(Primitive::State(_)) => KeyClass::State,
        Some(Primitive::DlqEntry { .. } | Primitive::DlqIndex { .. }) => KeyClass::DeadLetters,
        Some(Primitive::Index { .. }) | None => {
            let expires = key.ttl != TtlPolicy::None;
            let capped = match &key.redis_type {
                RedisType::List { cap, .. } | RedisType::Stream { cap, .. } | RedisType::Zset { cap, .. } => {
                    cap.is_some()
                }
                _ => false,
            };
            KeyClass::Data {
                kind: key.redis_type.kind(),
                record: matches!(&key.redis_type, RedisType::Hash { entries: None, .. }),
                expires,
                keeps_ttl: key.ttl_on_write == TtlOnWrite::Keep,
                capped,
                trimmed: trims(schema, index),
                transaction: in_transaction(schema, index),
                // Only an index `by` a field is written with its entity (`IndexedKey`); others
                // are the service's to write.
                indexed_by: schema
                    .keys
                    .iter()
                    .enumerate()
                    .find_map(|(other, def)| match &def.primitive {
                        Some(Primitive::Index { of, by: Some(_) }) if *of == index => {
                            Some((def.redis_type.kind(), trims(schema, other)))
                        }
                        _ => None,
                    }),
            }
        }
    }
}

/// Whether writes of key `index` drop members older than its TTL: a sorted set scored by time,
/// with a TTL.
fn trims(schema: &KeySchema, index: usize) -> bool {
    let key = &schema.keys[index];
    key.ttl != TtlPolicy::None
        && matches!(
            key.redis_type,
            RedisType::Zset {
                score: ScoreKind::Time | ScoreKind::TimeMs,
                ..
            }
        )
}

/// Whether key `index` is written by its slot group's generated transaction: a data key of a
/// group tagged by one parameter, with that parameter only, of a type transactions write (not a
/// hash used as a map, not a stream).
fn in_transaction(schema: &KeySchema, index: usize) -> bool {
    let key = &schema.keys[index];
    if matches!(
        key.redis_type,
        RedisType::Stream { .. } | RedisType::Hash { entries: Some(_), .. }
    ) {
        return false;
    }
    let Some(tag) = &key.pattern.hash_tag else {
        return false;
    };
    let Some(param) = tag.template.strip_prefix('<').and_then(|t| t.strip_suffix('>')) else {
        return false;
    };
    schema
        .param_index(param)
        .is_some_and(|param| key.pattern.params().eq([param]))
}

/// The commands the store sends for `access` to key `id` (connection commands aside: see
/// [`CONNECTION_COMMANDS`]). Exactly these: `tests/tests/acl_minimal.rs` runs every call of
/// the store on a key of each class and compares with what the server counted.
pub fn key_commands(schema: &KeySchema, id: KeyId, access: KeyAccess) -> BTreeSet<&'static str> {
    let write = access == KeyAccess::Write;
    let mut commands = BTreeSet::new();
    let mut add = |list: &[&'static str]| commands.extend(list.iter().copied());
    match key_class(schema, id) {
        KeyClass::Companion => {}
        KeyClass::Data {
            kind,
            record,
            expires,
            keeps_ttl,
            capped,
            trimmed,
            transaction,
            indexed_by,
        } => {
            // Every data key: its TTL and existence (`ttl`, a batch's `exists`).
            add(&["pttl", "exists"]);
            add(match (kind, record) {
                (RedisKind::String, _) => &["get"],
                (RedisKind::Hash, true) => &["hget", "hgetall"],
                (RedisKind::Hash, false) => &["hget", "hgetall", "hlen"],
                (RedisKind::List, _) => &["lrange", "llen"],
                (RedisKind::Set, _) => &["smembers", "sismember", "sscan", "scard", "sinter"],
                (RedisKind::Zset, _) => &["zrange", "zcount", "zcard"],
                (RedisKind::Stream, _) => &["xrange"],
            });
            if !write {
                return commands;
            }
            add(&["del"]);
            // The commands of one write, and whether it is several (one MULTI/EXEC).
            let several = match (kind, record) {
                // `compare_and_set` checks and writes in a script; `SET` carries the TTL.
                (RedisKind::String, _) => {
                    add(&["set", "getdel", "type"]);
                    add(SCRIPTING);
                    false
                }
                // A record replaces the hash: `DEL` and `HSET`.
                (RedisKind::Hash, true) => {
                    add(&["hset"]);
                    true
                }
                (RedisKind::Hash, false) => {
                    add(&["hset", "hdel"]);
                    false
                }
                (RedisKind::List, _) => {
                    add(&["rpush"]);
                    if capped {
                        add(&["ltrim"]);
                    }
                    capped
                }
                (RedisKind::Set, _) => {
                    add(&["sadd", "srem"]);
                    false
                }
                (RedisKind::Zset, _) => {
                    add(&["zadd", "zrem"]);
                    if capped {
                        add(&["zremrangebyrank"]);
                    }
                    if trimmed {
                        add(&["zremrangebyscore"]);
                    }
                    capped || trimmed
                }
                // `XADD` carries the cap.
                (RedisKind::Stream, _) => {
                    add(&["xadd"]);
                    false
                }
            };
            // `SET` carries a TTL, unless it keeps the key's own: then a key without one gets it
            // from `PEXPIRE ... NX`.
            let expire = expires && (kind != RedisKind::String || keeps_ttl);
            if expire {
                add(&["pexpire"]);
            }
            if several || expire {
                add(&["multi", "exec"]);
            }
            if transaction {
                add(SCRIPTING);
                // Its script checks the types of the keys it writes, except a record's, which
                // it replaces whole.
                if !record {
                    add(&["type"]);
                }
            }
            if let Some((index, index_trims)) = indexed_by {
                // The entity and its index members change in one MULTI/EXEC.
                add(&["multi", "exec", "pexpire"]);
                add(match index {
                    RedisKind::Zset => &["zadd", "zrem"],
                    _ => &["sadd", "srem"],
                });
                if index_trims {
                    add(&["zremrangebyscore"]);
                }
            }
        }
        KeyClass::Lock => {
            if write {
                add(SCRIPTING);
                add(&["time", "set", "get", "del", "incr"]);
            }
        }
        KeyClass::RateWindow => {
            if write {
                add(SCRIPTING);
                add(&["time", "incrby", "pexpire", "pttl", "del"]);
            }
        }
        KeyClass::RateGcra => {
            if write {
                add(SCRIPTING);
                add(&["time", "get", "set", "del"]);
            }
        }
        KeyClass::Breaker => {
            add(&["hget", "time"]);
            if write {
                add(SCRIPTING);
                add(&["incr", "pexpire", "pttl"]);
            }
        }
        KeyClass::Idempotency | KeyClass::State => {
            add(&["get"]);
            if write {
                add(&["set"]);
            }
        }
        KeyClass::Timers => {
            add(&["zcard"]);
            if write {
                add(SCRIPTING);
                add(&["time", "zadd", "zrange", "zrem", "zscore"]);
            }
        }
        KeyClass::Cache {
            shared_stats,
            across_instances,
            refresh_early,
        } => {
            add(&["get"]);
            if write {
                // Loads write the value; invalidation by pattern scans for its keys.
                add(&["set", "del", "scan"]);
                if shared_stats {
                    add(&["multi", "exec", "hincrby", "hmget"]);
                }
                if across_instances {
                    add(SCRIPTING);
                }
                if refresh_early {
                    add(&["pttl"]);
                }
            }
        }
        KeyClass::DeadLetters => {
            add(&["get", "zrange"]);
            if write {
                add(SCRIPTING);
                add(&["set", "zadd", "zrem", "del"]);
            }
        }
    }
    commands
}

/// One service's user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclUser {
    /// The user name: the service's name.
    pub name: String,
    /// The service's purpose, for a comment.
    pub purpose: Option<String>,
    /// Globs of keys it only reads.
    pub read_globs: Vec<String>,
    /// Globs of keys it writes (and reads).
    pub write_globs: Vec<String>,
    /// The commands it may run, lowercase, sorted.
    pub commands: Vec<&'static str>,
}

impl AclUser {
    /// The user's rules, in the syntax `ACL SETUSER` and an ACL file share: everything reset
    /// (no key, no command, no channel, no password), then switched on, with key patterns and commands (no password: add `>secret` or
    /// `#sha256`).
    pub fn rules(&self) -> String {
        let mut rules = String::from("reset on");
        for glob in &self.write_globs {
            rules.push_str(" ~");
            rules.push_str(glob);
        }
        for glob in &self.read_globs {
            rules.push_str(" %R~");
            rules.push_str(glob);
        }
        for command in &self.commands {
            rules.push_str(" +");
            rules.push_str(command);
        }
        rules
    }
}

/// Why rules cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum AclError {
    /// No service of that name.
    #[error("no service named `{name}`{}", nearest_hint(.known))]
    UnknownService {
        /// The name asked for.
        name: String,
        /// The services the schema declares.
        known: Vec<String>,
    },
    /// A glob of a pattern could not be made.
    #[error("cannot make the glob of `{key}`")]
    Glob {
        /// The key definition.
        key: String,
        /// Why.
        #[source]
        source: keyschema::FormatError,
    },
    /// A glob contains a space, which ACL rules cannot hold.
    #[error("the glob `{glob}` of `{key}` contains a space, which an ACL key pattern cannot hold")]
    Space {
        /// The key definition.
        key: String,
        /// Its glob.
        glob: String,
    },
}

fn nearest_hint(known: &[String]) -> String {
    if known.is_empty() {
        " (the schema declares no service)".to_string()
    } else {
        format!(" (the schema declares {})", known.join(", "))
    }
}

/// The users of every service (or only `only`), in schema order.
///
/// ```
/// # use keyschema::Schema;
/// let schema = Schema::parse(
///     "param id int\njob:<id> string \"A job\"\nservice api \"The API\" {\n  reads job\n}\n",
///     "x.keys",
/// )
/// .unwrap();
/// let users = keyschema_store::ops::acl_users(schema.model(), None).unwrap();
/// assert!(users[0].rules().contains(" %R~job:* "));
/// ```
pub fn acl_users(schema: &KeySchema, only: Option<&str>) -> Result<Vec<AclUser>, AclError> {
    if let Some(name) = only {
        if !schema.services.iter().any(|service| service.name == name) {
            return Err(AclError::UnknownService {
                name: name.to_string(),
                known: schema.services.iter().map(|service| service.name.clone()).collect(),
            });
        }
    }
    schema
        .services
        .iter()
        .filter(|service| only.map_or(true, |name| service.name == name))
        .map(|service| {
            let written = with_companions(schema, &service.writes, true);
            let read: BTreeSet<usize> = with_companions(schema, &service.reads, false)
                .difference(&written)
                .copied()
                .collect();
            // The commands of the keys the service names (what their companions, indexes and
            // cleanup locks need is part of the named key's class).
            let mut commands: BTreeSet<&'static str> = CONNECTION_COMMANDS.iter().copied().collect();
            for &key in &service.reads {
                commands.extend(key_commands(schema, KeyId::from_index(key), KeyAccess::Read));
            }
            for &key in &service.writes {
                commands.extend(key_commands(schema, KeyId::from_index(key), KeyAccess::Write));
            }
            Ok(AclUser {
                name: service.name.clone(),
                purpose: service.purpose.clone(),
                read_globs: globs(schema, &read)?,
                write_globs: globs(schema, &written)?,
                commands: commands.into_iter().collect(),
            })
        })
        .collect()
}

/// `keys` and the keys their calls touch too: the companions declared for them and, when they
/// are written, the index keys of an indexed entity (written with it) and the cleanup lock of a
/// dead-letter queue's index.
fn with_companions(schema: &KeySchema, keys: &[usize], write: bool) -> BTreeSet<usize> {
    let mut all: BTreeSet<usize> = keys.iter().copied().collect();
    for &key in keys.iter().filter(|_| write) {
        if let Some(Primitive::DlqIndex {
            cleanup: Some(lock), ..
        }) = &schema.keys[key].primitive
        {
            all.insert(*lock);
        }
    }
    for (index, key) in schema.keys.iter().enumerate() {
        match &key.primitive {
            Some(Primitive::Index { of, .. }) if write && keys.contains(of) => {
                all.insert(index);
            }
            _ => {}
        }
    }
    // Companions last: those of a cleanup lock come along.
    for (index, key) in schema.keys.iter().enumerate() {
        if let Some(Primitive::Companion { of, .. }) = &key.primitive {
            if all.contains(of) {
                all.insert(index);
            }
        }
    }
    all
}

/// The globs of `keys`, deduplicated, in order.
fn globs(schema: &KeySchema, keys: &BTreeSet<usize>) -> Result<Vec<String>, AclError> {
    let mut globs = Vec::new();
    for &key in keys {
        let name = &schema.keys[key].name;
        let glob = schema
            .glob_from_text(name, &[])
            .map_err(|source| AclError::Glob {
                key: name.clone(),
                source,
            })?
            .glob;
        if glob.contains(char::is_whitespace) {
            return Err(AclError::Space {
                key: name.clone(),
                glob,
            });
        }
        if !globs.contains(&glob) {
            globs.push(glob);
        }
    }
    Ok(globs)
}
