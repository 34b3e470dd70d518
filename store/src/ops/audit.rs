//! The audit of a live keyspace against the schema: every key of every primary scanned (in
//! parallel on a cluster), its type and TTL read in one pipeline per page on the node that
//! returned it, and each key either counted under its pattern (with the problems found) or
//! grouped as unknown. Read-only: it sends `SCAN`, `TYPE`, `PTTL` and, when asked,
//! `MEMORY USAGE`.

use crate::connection::Node;
use crate::policy::KeyId;
use crate::{Error, Result, Store};
use keyschema::{key_slot, Matcher, RedisKind};
use redis::Value;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The version of [`AuditReport`]'s JSON shape; a change that breaks readers increments it.
pub const AUDIT_VERSION: u32 = 1;

/// How an audit runs.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Keys asked for per `SCAN` call (and so per pipeline of `TYPE` and `PTTL`).
    pub scan_count: usize,
    /// Whether to read `MEMORY USAGE` of every key.
    pub memory: bool,
    /// Example keys kept per problem and per group of unknown keys.
    pub examples: usize,
    /// Slots listed in [`AuditReport::hottest_slots`].
    pub hottest_slots: usize,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            scan_count: 1000,
            memory: false,
            examples: 5,
            hottest_slots: 10,
        }
    }
}

/// What is wrong with a key that matches its pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The key holds another Redis type than declared.
    WrongType,
    /// The schema declares a TTL; the key has none.
    TtlMissing,
    /// The key's remaining TTL is longer than the declared one (or the per-write bound).
    TtlTooLong,
    /// The schema declares no TTL; the key has one.
    TtlUnexpected,
}

impl Problem {
    /// What the problem is, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::WrongType => "of another type than declared",
            Self::TtlMissing => "without the declared TTL",
            Self::TtlTooLong => "with a TTL longer than declared",
            Self::TtlUnexpected => "with a TTL where none is declared",
        }
    }
}

/// Keys with one problem: how many, and some of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProblemKeys {
    /// Which problem.
    pub problem: Problem,
    /// How many keys have it.
    pub count: u64,
    /// Some of them (lossy UTF-8 where a key is not).
    pub examples: Vec<String>,
}

/// The keys of one pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatternAudit {
    /// The key definition's code name.
    pub name: String,
    /// Its pattern.
    pub pattern: String,
    /// The declared Redis type.
    pub redis_type: RedisKind,
    /// The declared TTL (for `per_write`, the bound) in milliseconds; `None`: never expires.
    pub ttl_ms: Option<u64>,
    /// Keys found.
    pub keys: u64,
    /// Keys with at least one problem.
    pub keys_with_problems: u64,
    /// Their memory (`MEMORY USAGE`), when asked.
    pub memory_bytes: Option<u64>,
    /// Keys with a problem, per problem, in [`Problem`] order.
    pub problems: Vec<ProblemKeys>,
}

/// Keys that match no pattern, grouped by what went wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnknownKeys {
    /// The lint code (`K001`: no pattern, `K002`: a parameter of the wrong type, ...).
    pub code: &'static str,
    /// The nearest pattern's code name, when there is one.
    pub nearest: Option<String>,
    /// The key's first segment, when no pattern is near.
    pub prefix: Option<String>,
    /// How many keys.
    pub count: u64,
    /// Why, for the first of them.
    pub reason: String,
    /// Some of them.
    pub examples: Vec<String>,
}

/// Keys per node: a primary of a cluster (`host:port`), or `standalone`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeKeys {
    /// The node.
    pub node: String,
    /// Keys it holds.
    pub keys: u64,
}

/// Keys of one cluster slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SlotKeys {
    /// The slot.
    pub slot: u16,
    /// Keys in it.
    pub keys: u64,
}

/// What an audit found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// [`AUDIT_VERSION`].
    pub version: u32,
    /// Keys scanned (keys removed between the scan and the reads are not counted).
    pub keys: u64,
    /// Per key definition, in schema order (patterns without keys included).
    pub patterns: Vec<PatternAudit>,
    /// Keys that match no pattern, largest group first.
    pub unknown: Vec<UnknownKeys>,
    /// Keys per node.
    pub nodes: Vec<NodeKeys>,
    /// The slots with most keys, most first.
    pub hottest_slots: Vec<SlotKeys>,
}

impl AuditReport {
    /// Keys with a problem or matching no pattern.
    pub fn problem_count(&self) -> u64 {
        let matched: u64 = self.patterns.iter().map(|p| p.keys_with_problems).sum();
        matched + self.unknown_count()
    }

    /// Keys that match no pattern.
    pub fn unknown_count(&self) -> u64 {
        self.unknown.iter().map(|u| u.count).sum()
    }

    /// The keys of the pattern named `name`.
    pub fn pattern(&self, name: &str) -> Option<&PatternAudit> {
        self.patterns.iter().find(|p| p.name == name)
    }
}

/// Counts gathered while pages arrive.
struct Tally {
    examples: usize,
    keys: u64,
    per_pattern: Vec<PatternTally>,
    unknown: HashMap<(&'static str, Option<usize>, Option<String>), UnknownTally>,
    nodes: HashMap<String, u64>,
    slots: Vec<u64>,
}

#[derive(Default)]
struct PatternTally {
    keys: u64,
    with_problems: u64,
    memory: u64,
    problems: HashMap<Problem, (u64, Vec<String>)>,
}

struct UnknownTally {
    count: u64,
    reason: String,
    examples: Vec<String>,
}

fn keep(examples: &mut Vec<String>, limit: usize, key: &[u8]) {
    if examples.len() < limit {
        examples.push(String::from_utf8_lossy(key).into_owned());
    }
}

impl Store {
    /// Audits every key of the keyspace against the schema; see the module documentation.
    ///
    /// ```no_run
    /// # async fn demo(store: keyschema_store::Store) -> keyschema_store::Result<()> {
    /// use keyschema_store::ops::AuditOptions;
    /// let report = store.audit(&AuditOptions::default()).await?;
    /// println!("{} keys, {} with a problem", report.keys, report.problem_count());
    /// # Ok(()) }
    /// ```
    pub async fn audit(&self, options: &AuditOptions) -> Result<AuditReport> {
        let schema = self.schema_arc();
        let matcher = Matcher::new(Arc::clone(&schema));
        let tally = Mutex::new(Tally {
            examples: options.examples,
            keys: 0,
            per_pattern: (0..schema.keys.len()).map(|_| PatternTally::default()).collect(),
            unknown: HashMap::new(),
            nodes: HashMap::new(),
            slots: vec![0; 16384],
        });
        let per_key = if options.memory { 3 } else { 2 };
        self.connection()
            .scan_primaries("*", options.scan_count.max(1), |node, keys| {
                let (tally, matcher) = (&tally, &matcher);
                async move {
                    let replies = read_types_and_ttls(&node, &keys, options.memory).await?;
                    let mut tally = tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let name = node.name();
                    for (key, replies) in keys.iter().zip(replies.chunks(per_key)) {
                        self.tally_key(&mut tally, matcher, &name, key, replies);
                    }
                    Ok(())
                }
            })
            .await?;
        let tally = tally.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(self.report(tally, options))
    }

    fn tally_key(&self, tally: &mut Tally, matcher: &Matcher, node: &str, key: &[u8], replies: &[Value]) {
        let Some(Value::SimpleString(kind)) = replies.first() else {
            return;
        };
        let Some(actual) = RedisKind::from_type_reply(kind) else {
            return; // `none`: removed since the scan.
        };
        let pttl = match replies.get(1) {
            Some(Value::Int(pttl)) => *pttl,
            _ => return,
        };
        tally.keys += 1;
        *tally.nodes.entry(node.to_string()).or_default() += 1;
        tally.slots[usize::from(key_slot(key))] += 1;
        let examples = tally.examples;

        let found = std::str::from_utf8(key)
            .map_err(|_| None)
            .and_then(|text| matcher.match_key(text).map_err(Some));
        let index = match found {
            Ok(found) => found.key,
            Err(failure) => {
                let (code, nearest, reason) = match failure {
                    Some(failure) => (failure.code.as_str(), failure.nearest, failure.message),
                    None => ("K005", None, "the key is not UTF-8".to_string()),
                };
                let prefix = nearest.is_none().then(|| prefix_of(key, self.schema().separator));
                let group = tally
                    .unknown
                    .entry((code, nearest, prefix))
                    .or_insert_with(|| UnknownTally {
                        count: 0,
                        reason,
                        examples: Vec::new(),
                    });
                group.count += 1;
                keep(&mut group.examples, examples, key);
                return;
            }
        };
        let def = &self.schema().keys[index];
        let declared = self.policy(KeyId::from_index(index)).ttl;
        let mut problems = Vec::new();
        if def.redis_type.kind() != actual {
            problems.push(Problem::WrongType);
        }
        match (declared, u64::try_from(pttl).ok()) {
            (Some(_), None) => problems.push(Problem::TtlMissing),
            (Some(ttl), Some(left)) if Duration::from_millis(left) > ttl => problems.push(Problem::TtlTooLong),
            (None, Some(_)) => problems.push(Problem::TtlUnexpected),
            _ => {}
        }
        let pattern = &mut tally.per_pattern[index];
        pattern.keys += 1;
        pattern.with_problems += u64::from(!problems.is_empty());
        if let Some(Value::Int(bytes)) = replies.get(2) {
            pattern.memory += u64::try_from(*bytes).unwrap_or(0);
        }
        for problem in problems {
            let (count, kept) = pattern.problems.entry(problem).or_default();
            *count += 1;
            keep(kept, examples, key);
        }
    }

    fn report(&self, tally: Tally, options: &AuditOptions) -> AuditReport {
        let schema = self.schema();
        let patterns = schema
            .keys
            .iter()
            .zip(tally.per_pattern)
            .enumerate()
            .map(|(index, (def, counted))| {
                let mut problems: Vec<ProblemKeys> = counted
                    .problems
                    .into_iter()
                    .map(|(problem, (count, examples))| ProblemKeys {
                        problem,
                        count,
                        examples,
                    })
                    .collect();
                problems.sort_by_key(|p| p.problem);
                let ttl = self.policy(KeyId::from_index(index)).ttl;
                AuditPattern {
                    def,
                    ttl_ms: ttl.map(|ttl| u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
                    keys: counted.keys,
                    keys_with_problems: counted.with_problems,
                    memory_bytes: options.memory.then_some(counted.memory),
                    problems,
                }
                .into()
            })
            .collect();
        let mut unknown: Vec<UnknownKeys> = tally
            .unknown
            .into_iter()
            .map(|((code, nearest, prefix), group)| UnknownKeys {
                code,
                nearest: nearest.map(|index| schema.keys[index].name.clone()),
                prefix,
                count: group.count,
                reason: group.reason,
                examples: group.examples,
            })
            .collect();
        unknown.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.examples.cmp(&b.examples)));
        let mut nodes: Vec<NodeKeys> = tally
            .nodes
            .into_iter()
            .map(|(node, keys)| NodeKeys { node, keys })
            .collect();
        nodes.sort_by(|a, b| a.node.cmp(&b.node));
        let mut hottest: Vec<SlotKeys> = (0u16..)
            .zip(&tally.slots)
            .filter(|(_, keys)| **keys > 0)
            .map(|(slot, keys)| SlotKeys { slot, keys: *keys })
            .collect();
        hottest.sort_by(|a, b| b.keys.cmp(&a.keys).then(a.slot.cmp(&b.slot)));
        hottest.truncate(options.hottest_slots);
        AuditReport {
            version: AUDIT_VERSION,
            keys: tally.keys,
            patterns,
            unknown,
            nodes,
            hottest_slots: hottest,
        }
    }
}

/// A pattern's counts with its definition, before they become a [`PatternAudit`].
struct AuditPattern<'d> {
    def: &'d keyschema::KeyDef,
    ttl_ms: Option<u64>,
    keys: u64,
    keys_with_problems: u64,
    memory_bytes: Option<u64>,
    problems: Vec<ProblemKeys>,
}

impl From<AuditPattern<'_>> for PatternAudit {
    fn from(p: AuditPattern<'_>) -> Self {
        Self {
            name: p.def.name.clone(),
            pattern: p.def.pattern.template.clone(),
            redis_type: p.def.redis_type.kind(),
            ttl_ms: p.ttl_ms,
            keys: p.keys,
            keys_with_problems: p.keys_with_problems,
            memory_bytes: p.memory_bytes,
            problems: p.problems,
        }
    }
}

/// `TYPE` and `PTTL` (and `MEMORY USAGE`) of every key of a page, in one pipeline to its node.
async fn read_types_and_ttls(node: &Node, keys: &[Vec<u8>], memory: bool) -> Result<Vec<Value>> {
    let mut pipe = redis::pipe();
    for key in keys {
        pipe.cmd("TYPE").arg(key).cmd("PTTL").arg(key);
        if memory {
            pipe.cmd("MEMORY").arg("USAGE").arg(key);
        }
    }
    let count = keys.len() * if memory { 3 } else { 2 };
    let replies = node.pipeline(pipe, count).await?;
    if replies.len() == count {
        Ok(replies)
    } else {
        Err(Error::unexpected(&node.name(), "TYPE", &Value::Array(replies)))
    }
}

/// A key's first segment (at most 64 bytes), for grouping keys no pattern is near.
fn prefix_of(key: &[u8], separator: char) -> String {
    let end = key
        .iter()
        .position(|&b| char::from(b) == separator)
        .unwrap_or(key.len())
        .min(64);
    String::from_utf8_lossy(&key[..end]).into_owned()
}
