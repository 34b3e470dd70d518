//! What an audit reports: the public, serialisable shape (versioned by [`AUDIT_VERSION`]).

use keyschema::RedisKind;
use serde::{Deserialize, Serialize};

/// The version of [`AuditReport`]'s JSON shape; a change that breaks readers increments it.
pub const AUDIT_VERSION: u32 = 1;

/// What is wrong with a key that matches its pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// For an index (`index ... of KEY`, a dead-letter queue's index): its members checked
    /// against the keys they name.
    pub index: Option<IndexAudit>,
}

/// The members of an index's keys, each checked for the key it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexAudit {
    /// The indexed key's code name.
    pub of: String,
    /// Members read.
    pub members: u64,
    /// Members whose key does not exist (or that cannot name one).
    pub dangling: u64,
    /// Some of them.
    pub examples: Vec<DanglingMember>,
    /// Why the members could not be checked, when they could not (a parameter of the indexed
    /// key that neither the member nor the index key supplies).
    pub unchecked: Option<String>,
    /// For an index kept by a field of its key's value (`by FIELD`): members whose value names
    /// another index key (or none).
    pub misplaced: u64,
    /// Some of them.
    pub misplaced_examples: Vec<MisplacedMember>,
}

/// A member of an index kept by a field of its key's value, in a key its value does not name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MisplacedMember {
    /// The index key holding it.
    pub index_key: String,
    /// The member.
    pub member: String,
    /// The key it names.
    pub key: String,
    /// The index key its value names; `None` when the value names none.
    pub belongs_in: Option<String>,
}

/// A member of an index whose key is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DanglingMember {
    /// The index key holding it.
    pub index_key: String,
    /// The member.
    pub member: String,
    /// The key it names; `None` when it names none (not a valid value of the parameter).
    pub key: Option<String>,
}

/// Keys that match no pattern, grouped by what went wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnknownKeys {
    /// The lint code (`K001`: no pattern, `K002`: a parameter of the wrong type, ...).
    pub code: String,
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

/// Keys by remaining TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TtlBucket {
    /// `none`, or the bucket's upper bound (`1m`, `1h`, `1d`, `7d`), or `more` beyond the last.
    pub below: &'static str,
    /// Keys in it.
    pub keys: u64,
}

/// What `fix` changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixReport {
    /// Keys given their missing declared TTL (`PEXPIRE ... NX`: a key that got a TTL meanwhile
    /// keeps it).
    pub ttls_set: u64,
    /// Dangling members removed from their index.
    pub members_removed: u64,
}

/// What an audit found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// [`AUDIT_VERSION`].
    pub version: u32,
    /// Keys scanned (keys removed between the scan and the reads are not counted).
    pub keys: u64,
    /// Whether the audit stopped at a sample of the keyspace.
    pub sampled: bool,
    /// Per key definition, in schema order (patterns without keys included).
    pub patterns: Vec<PatternAudit>,
    /// Keys that match no pattern, largest group first.
    pub unknown: Vec<UnknownKeys>,
    /// Keys per node.
    pub nodes: Vec<NodeKeys>,
    /// The slots with most keys, most first.
    pub hottest_slots: Vec<SlotKeys>,
    /// Keys per range of 64 consecutive slots (256 ranges: slots 0-63 first), for a heat map.
    pub keys_per_slot_range: Vec<u64>,
    /// Keys by remaining TTL.
    pub ttls: Vec<TtlBucket>,
    /// What was fixed, when fixing was asked.
    pub fixed: Option<FixReport>,
    /// During a rollout ([`AuditOptions::previous`](super::AuditOptions)): keys still in the old
    /// layout, and new keys with a stale old twin. Keys of the old layout are not unknown keys
    /// and not problems: the rollout is done when there are none.
    pub previous: Option<super::rollout::PreviousLayout>,
}

impl AuditReport {
    /// Keys with a problem, dangling index members, and keys matching no pattern: what makes
    /// an audit fail.
    pub fn problem_count(&self) -> u64 {
        let matched: u64 = self.patterns.iter().map(|p| p.keys_with_problems).sum();
        matched + self.dangling_count() + self.misplaced_count() + self.unknown_count()
    }

    /// Keys that match no pattern.
    pub fn unknown_count(&self) -> u64 {
        self.unknown.iter().map(|u| u.count).sum()
    }

    /// Index members whose key is gone.
    pub fn dangling_count(&self) -> u64 {
        self.index_sum(|index| index.dangling)
    }

    /// Index members in a key their value does not name (`index ... by FIELD`).
    pub fn misplaced_count(&self) -> u64 {
        self.index_sum(|index| index.misplaced)
    }

    fn index_sum(&self, count: impl Fn(&IndexAudit) -> u64) -> u64 {
        self.patterns.iter().filter_map(|p| p.index.as_ref()).map(count).sum()
    }

    /// The keys of the pattern named `name`.
    pub fn pattern(&self, name: &str) -> Option<&PatternAudit> {
        self.patterns.iter().find(|p| p.name == name)
    }

    /// What `fix` changes, per pattern: the keys without their declared TTL and the dangling
    /// index members this audit found. After a fixing audit ([`AuditReport::fixed`]) these were
    /// asked for; otherwise they are what a fixing audit would do.
    pub fn fix_plan(&self) -> FixPlan {
        let mut plan = FixPlan {
            applied: self.fixed.is_some(),
            ..FixPlan::default()
        };
        for pattern in &self.patterns {
            let missing = pattern.problems.iter().find(|p| p.problem == Problem::TtlMissing);
            if let (Some(missing), Some(ttl_ms)) = (missing, pattern.ttl_ms) {
                plan.ttls.push(PlannedTtls {
                    pattern: pattern.pattern.clone(),
                    keys: missing.count,
                    ttl_ms,
                });
            }
            if let Some(index) = pattern
                .index
                .as_ref()
                .filter(|index| index.dangling > 0 || index.misplaced > 0)
            {
                plan.members.push(PlannedRemovals {
                    pattern: pattern.pattern.clone(),
                    members: index.dangling,
                    misplaced: index.misplaced,
                });
            }
        }
        plan
    }
}

/// What `fix` changes ([`AuditReport::fix_plan`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FixPlan {
    /// Whether the audit fixed (the changes were asked for) or only planned them.
    pub applied: bool,
    /// Keys to be given their declared TTL, per pattern.
    pub ttls: Vec<PlannedTtls>,
    /// Dangling index members to be removed, per index pattern.
    pub members: Vec<PlannedRemovals>,
}

/// Keys of one pattern without their declared TTL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedTtls {
    /// The pattern.
    pub pattern: String,
    /// How many keys.
    pub keys: u64,
    /// The TTL they get, in milliseconds.
    pub ttl_ms: u64,
}

/// Dangling members of one index pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedRemovals {
    /// The index key's pattern.
    pub pattern: String,
    /// How many dangling members are removed.
    pub members: u64,
    /// How many misplaced members (`index ... by FIELD`) are moved to the key their value names.
    pub misplaced: u64,
}
