//! Redis ACL rules per service, from the schema's `service` blocks: the keys a service reads
//! as read-only key patterns (`%R~glob`), the keys it writes as read-write ones (`~glob`), the
//! companions of its keys (a lock's fencing counter, a cache's load lock) with them, and only the
//! commands the store and its primitives send for those keys' types. Redis 7.0 or newer (`%R~`).
//!
//! A key pattern becomes the Redis glob of its pattern with every parameter free, so a glob can
//! match keys of another pattern with the same shape (`job:*:output_decision` also matches a
//! `job:<a>:<b>` key): ACLs are only as exact as the layout's literals make them.

use keyschema::{KeySchema, Primitive, RedisKind};
use std::collections::BTreeSet;

/// Commands every store connection may send: connection checks, transactions (a write of
/// several commands is one MULTI/EXEC), TTL and existence checks, `WAIT` for durable writes,
/// and the cluster topology.
const ALWAYS: &[&str] = &[
    "ping",
    "echo",
    "multi",
    "exec",
    "discard",
    "exists",
    "pttl",
    "ttl",
    "type",
    "wait",
    "readonly",
    "readwrite",
    "asking",
    "cluster|slots",
    "cluster|shards",
    "cluster|nodes",
    "cluster|info",
];

/// Reads per Redis type.
fn reads(kind: RedisKind) -> &'static [&'static str] {
    match kind {
        RedisKind::String => &["get", "mget", "strlen", "getrange"],
        RedisKind::Hash => &["hget", "hmget", "hgetall", "hlen", "hexists", "hkeys", "hvals", "hscan"],
        RedisKind::List => &["lrange", "llen", "lindex"],
        RedisKind::Set => &["smembers", "sismember", "smismember", "scard", "sscan", "sinter"],
        RedisKind::Zset => &[
            "zrange",
            "zrangebyscore",
            "zrevrange",
            "zrevrangebyscore",
            "zcard",
            "zcount",
            "zscore",
            "zrank",
            "zscan",
        ],
        RedisKind::Stream => &["xrange", "xrevrange", "xlen", "xread"],
    }
}

/// Writes per Redis type (with deletion and expiry, which every write path uses).
fn writes(kind: RedisKind) -> &'static [&'static str] {
    match kind {
        RedisKind::String => &["set", "getdel", "getex", "incr", "incrby", "decr", "decrby", "append"],
        RedisKind::Hash => &["hset", "hsetnx", "hdel", "hincrby", "hincrbyfloat"],
        RedisKind::List => &["rpush", "lpush", "ltrim", "lpop", "rpop", "lrem"],
        RedisKind::Set => &["sadd", "srem"],
        RedisKind::Zset => &["zadd", "zrem", "zincrby", "zremrangebyscore", "zremrangebyrank"],
        RedisKind::Stream => &["xadd", "xtrim", "xdel"],
    }
}

/// Every write type's deletion and expiry commands.
const WRITE_ANY: &[&str] = &["del", "unlink", "pexpire", "expire", "persist"];

/// The primitives run scripts on the server; the commands a script calls are checked against
/// the user's rules too, so they are granted with the scripting commands.
const SCRIPTS: &[&str] = &[
    "evalsha",
    "eval",
    "script|load",
    "script|exists",
    "time",
    "get",
    "set",
    "del",
    "incr",
    "incrby",
    "pexpire",
    "pttl",
    "hget",
    "hset",
    "hincrby",
    "zadd",
    "zrange",
    "zrem",
    "zscore",
    "type",
];

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
            let written = with_companions(schema, &service.writes);
            let read: BTreeSet<usize> = with_companions(schema, &service.reads)
                .difference(&written)
                .copied()
                .collect();
            let mut commands: BTreeSet<&'static str> = ALWAYS.iter().copied().collect();
            for &key in read.iter().chain(&written) {
                commands.extend(reads(schema.keys[key].redis_type.kind()));
            }
            for &key in &written {
                commands.extend(writes(schema.keys[key].redis_type.kind()));
                commands.extend(WRITE_ANY);
            }
            // Scripts run only where a service writes a primitive that runs one: a service that
            // only reads gets no scripting (nor the write commands scripts call).
            if written.iter().any(|&key| runs_scripts(schema, key)) {
                commands.extend(SCRIPTS);
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

/// Whether writing key `key` runs a script of the store: the decisions of locks, rate limits,
/// breakers and timers, a dead-letter queue's entry and index (added together, pruned by a
/// script), a cache's load lock; a companion as the key it serves. Indexes, idempotency keys and
/// two-tier state are written with plain commands.
fn runs_scripts(schema: &KeySchema, key: usize) -> bool {
    match &schema.keys[key].primitive {
        Some(Primitive::Companion { of, .. }) => runs_scripts(schema, *of),
        Some(
            Primitive::Lock { .. }
            | Primitive::RateLimit(_)
            | Primitive::Breaker(_)
            | Primitive::Timers { .. }
            | Primitive::DlqEntry { .. }
            | Primitive::DlqIndex { .. }
            | Primitive::Cache(_),
        ) => true,
        Some(Primitive::Index { .. } | Primitive::Idempotency | Primitive::State(_)) | None => false,
    }
}

/// `keys` and the companions declared for them.
fn with_companions(schema: &KeySchema, keys: &[usize]) -> BTreeSet<usize> {
    let mut all: BTreeSet<usize> = keys.iter().copied().collect();
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
