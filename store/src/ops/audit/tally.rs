//! Counts gathered while pages of keys arrive, and the report built from them.

use super::report::{
    AuditReport, DanglingMember, FixReport, IndexAudit, MisplacedMember, NodeKeys, PatternAudit, Problem, ProblemKeys,
    SlotKeys, TtlBucket, UnknownKeys, AUDIT_VERSION,
};
use super::rollout::{PreviousLayout, PreviousTally, Rollout};
use super::AuditOptions;
use crate::policy::KeyId;
use crate::store::Store;
use keyschema::{key_slot, KeySchema, Matcher, RedisKind};
use redis::Value;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// The upper bounds of the TTL buckets, with their names; a last bucket holds the rest.
const TTL_BUCKETS: [(u64, &str); 4] = [
    (60_000, "1m"),
    (3_600_000, "1h"),
    (86_400_000, "1d"),
    (604_800_000, "7d"),
];

/// Slots per range of [`AuditReport::keys_per_slot_range`].
const SLOTS_PER_RANGE: usize = 64;

/// Everything counted so far; kept in an audit's checkpoint.
#[derive(Serialize, Deserialize)]
pub(super) struct Tally {
    examples: usize,
    pub(super) keys: u64,
    per_pattern: Vec<PatternTally>,
    #[serde(with = "pairs")]
    unknown: HashMap<(String, Option<usize>, Option<String>), UnknownTally>,
    nodes: HashMap<String, u64>,
    slots: Vec<u64>,
    /// `none`, then one per [`TTL_BUCKETS`] entry, then the rest.
    ttls: [u64; TTL_BUCKETS.len() + 2],
    pub(super) fixed: FixReport,
    /// During a rollout: keys of each pattern of the previous schema (default: checkpoints
    /// written without a previous schema still load).
    #[serde(default)]
    previous: Vec<PreviousTally>,
    /// During a rollout: per current pattern, keys whose old twin exists, and some of them.
    #[serde(default)]
    twins: Vec<(u64, Vec<String>)>,
}

#[derive(Default, Serialize, Deserialize)]
struct PatternTally {
    keys: u64,
    with_problems: u64,
    memory: u64,
    #[serde(with = "pairs")]
    problems: HashMap<Problem, (u64, Vec<String>)>,
    index: IndexTally,
}

/// The members of one index pattern's keys.
#[derive(Default, Serialize, Deserialize)]
pub(super) struct IndexTally {
    pub(super) members: u64,
    pub(super) dangling: u64,
    pub(super) examples: Vec<DanglingMember>,
    pub(super) unchecked: Option<String>,
    // Default: checkpoints written before misplaced members were counted still load.
    #[serde(default)]
    pub(super) misplaced: u64,
    #[serde(default)]
    pub(super) misplaced_examples: Vec<MisplacedMember>,
}

impl IndexTally {
    pub(super) fn add(&mut self, other: Self, limit: usize) {
        self.members += other.members;
        self.dangling += other.dangling;
        self.misplaced += other.misplaced;
        let room = limit.saturating_sub(self.examples.len());
        self.examples.extend(other.examples.into_iter().take(room));
        let room = limit.saturating_sub(self.misplaced_examples.len());
        self.misplaced_examples
            .extend(other.misplaced_examples.into_iter().take(room));
        if self.unchecked.is_none() {
            self.unchecked = other.unchecked;
        }
    }
}

#[derive(Serialize, Deserialize)]
struct UnknownTally {
    count: u64,
    reason: String,
    examples: Vec<String>,
}

/// What matching a scanned key against the schema found: done before its commands are sent,
/// since only a key that matched a pattern needs its type.
pub(super) enum Found {
    /// The key definition it matched.
    Pattern(usize),
    /// No pattern of the current schema; one of the previous schema's, by index there (an audit
    /// during a rollout).
    Previous(usize),
    /// No pattern: the failure's code, the nearest pattern and why.
    Unknown {
        code: String,
        nearest: Option<usize>,
        reason: String,
    },
}

impl Found {
    pub(super) fn of(matcher: &Matcher, rollout: Option<&Rollout<'_>>, key: &[u8]) -> Self {
        let found = Self::matched(matcher, key);
        match (&found, rollout, std::str::from_utf8(key)) {
            (Self::Unknown { .. }, Some(rollout), Ok(text)) => match rollout.matcher().match_key(text) {
                Ok(old) => Self::Previous(old.key),
                Err(_) => found,
            },
            _ => found,
        }
    }

    fn matched(matcher: &Matcher, key: &[u8]) -> Self {
        match std::str::from_utf8(key) {
            Err(_) => Self::Unknown {
                code: "K005".to_string(),
                nearest: None,
                reason: "the key is not UTF-8".to_string(),
            },
            Ok(text) => match matcher.match_key(text) {
                Ok(found) => Self::Pattern(found.key),
                Err(failure) => Self::Unknown {
                    code: failure.code.as_str().to_string(),
                    nearest: failure.nearest,
                    reason: failure.message,
                },
            },
        }
    }

    /// Whether its `TYPE` is asked for.
    pub(super) fn needs_type(&self) -> bool {
        matches!(self, Self::Pattern(_))
    }
}

/// What a scanned key asks of the audit beyond counting.
#[derive(Default)]
pub(super) struct FollowUp {
    /// A key of an index pattern, of its declared type: its members are to be checked.
    pub(super) index: Option<(String, usize)>,
    /// A key without its declared TTL, which `fix` sets.
    pub(super) set_ttl: Option<Duration>,
}

fn keep(examples: &mut Vec<String>, limit: usize, key: &[u8]) {
    if examples.len() < limit {
        examples.push(String::from_utf8_lossy(key).into_owned());
    }
}

impl Tally {
    /// Counts a key of current pattern `index` whose old-layout twin exists.
    pub(super) fn add_twin(&mut self, index: usize, key: &[u8]) {
        if let Some((count, examples)) = self.twins.get_mut(index) {
            *count += 1;
            keep(examples, self.examples, key);
        }
    }

    pub(super) fn new(patterns: usize, previous: usize, examples: usize) -> Self {
        Self {
            examples,
            keys: 0,
            per_pattern: (0..patterns).map(|_| PatternTally::default()).collect(),
            unknown: HashMap::new(),
            nodes: HashMap::new(),
            slots: vec![0; 16384],
            ttls: [0; TTL_BUCKETS.len() + 2],
            fixed: FixReport::default(),
            previous: vec![PreviousTally::default(); previous],
            twins: if previous > 0 {
                vec![(0, Vec::new()); patterns]
            } else {
                Vec::new()
            },
        }
    }

    /// Counts `keys` keys audited on `node`.
    pub(super) fn add_node_keys(&mut self, node: String, keys: u64) {
        *self.nodes.entry(node).or_default() += keys;
    }

    /// Adds the members checked in keys of the index pattern `pattern`.
    pub(super) fn add_index(&mut self, pattern: usize, index: IndexTally) {
        self.per_pattern[pattern].index.add(index, self.examples);
    }

    /// Counts one key from what matching it found and its replies: `TYPE` (for a key that
    /// matched a pattern), `PTTL` and, when asked, `MEMORY USAGE`.
    pub(super) fn add_key(&mut self, store: &Store, key: &[u8], found: Found, replies: &[Value]) -> FollowUp {
        let (actual, replies) = match found {
            Found::Pattern(_) => {
                let Some(Value::SimpleString(kind)) = replies.first() else {
                    return FollowUp::default();
                };
                match RedisKind::from_type_reply(kind) {
                    Some(actual) => (Some(actual), &replies[1..]),
                    None => return FollowUp::default(), // `none`: removed since the scan.
                }
            }
            Found::Unknown { .. } | Found::Previous(_) => (None, replies),
        };
        let pttl = match replies.first() {
            Some(Value::Int(-2)) | None => return FollowUp::default(), // Removed since the scan.
            Some(Value::Int(pttl)) => *pttl,
            _ => return FollowUp::default(),
        };
        self.keys += 1;
        self.slots[usize::from(key_slot(key))] += 1;
        let left = u64::try_from(pttl).ok();
        let bucket = match left {
            None => 0,
            Some(ms) => 1 + TTL_BUCKETS.iter().take_while(|(bound, _)| ms >= *bound).count(),
        };
        self.ttls[bucket] += 1;

        let schema = store.schema();
        if let Found::Previous(old) = found {
            if let Some(tally) = self.previous.get_mut(old) {
                tally.keys += 1;
                match left {
                    Some(ms) => tally.longest_ttl_ms = tally.longest_ttl_ms.max(ms),
                    None => tally.without_ttl += 1,
                }
                keep(&mut tally.examples, self.examples, key);
            }
            return FollowUp::default();
        }
        let (index, actual) = match (found, actual) {
            (Found::Pattern(index), Some(actual)) => (index, actual),
            // Not reached: typed above, and previous-layout keys counted above.
            (Found::Pattern(_), None) | (Found::Previous(_), _) => return FollowUp::default(),
            (Found::Unknown { code, nearest, reason }, _) => {
                let prefix = nearest
                    .is_none()
                    .then(|| super::super::prefix_of(key, schema.separator));
                let group = self
                    .unknown
                    .entry((code, nearest, prefix))
                    .or_insert_with(|| UnknownTally {
                        count: 0,
                        reason,
                        examples: Vec::new(),
                    });
                group.count += 1;
                keep(&mut group.examples, self.examples, key);
                return FollowUp::default();
            }
        };
        // A matched key is UTF-8 (the matcher took it as text).
        let text = String::from_utf8_lossy(key);
        let def = &schema.keys[index];
        let declared = store.policy(KeyId::from_index(index)).ttl;
        let mut problems = Vec::new();
        let type_ok = def.redis_type.kind() == actual;
        if !type_ok {
            problems.push(Problem::WrongType);
        }
        let mut follow_up = FollowUp::default();
        match (declared, left) {
            (Some(ttl), None) => {
                problems.push(Problem::TtlMissing);
                follow_up.set_ttl = Some(ttl);
            }
            (Some(ttl), Some(left)) if Duration::from_millis(left) > ttl => problems.push(Problem::TtlTooLong),
            (None, Some(_)) => problems.push(Problem::TtlUnexpected),
            _ => {}
        }
        if type_ok && schema.indexed_key(index).is_some() {
            follow_up.index = Some((text.into_owned(), index));
        }
        let examples = self.examples;
        let pattern = &mut self.per_pattern[index];
        pattern.keys += 1;
        pattern.with_problems += u64::from(!problems.is_empty());
        if let Some(Value::Int(bytes)) = replies.get(1) {
            pattern.memory += u64::try_from(*bytes).unwrap_or(0);
        }
        for problem in problems {
            let (count, kept) = pattern.problems.entry(problem).or_default();
            *count += 1;
            keep(kept, examples, key);
        }
        follow_up
    }

    pub(super) fn report(
        self,
        store: &Store,
        options: &AuditOptions,
        sampled: bool,
        previous: Option<&KeySchema>,
    ) -> AuditReport {
        let schema = store.schema();
        let previous =
            previous.map(|previous| PreviousLayout::from_tallies(previous, schema, self.previous, self.twins));
        let patterns = schema
            .keys
            .iter()
            .zip(self.per_pattern)
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
                let ttl = store.policy(KeyId::from_index(index)).ttl;
                let index_audit = schema.indexed_key(index).map(|of| IndexAudit {
                    of: schema.keys[of].name.clone(),
                    members: counted.index.members,
                    dangling: counted.index.dangling,
                    examples: counted.index.examples,
                    unchecked: counted.index.unchecked,
                    misplaced: counted.index.misplaced,
                    misplaced_examples: counted.index.misplaced_examples,
                });
                PatternAudit {
                    name: def.name.clone(),
                    pattern: def.pattern.template.clone(),
                    redis_type: def.redis_type.kind(),
                    ttl_ms: ttl.map(|ttl| u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
                    keys: counted.keys,
                    keys_with_problems: counted.with_problems,
                    memory_bytes: options.memory.then_some(counted.memory),
                    problems,
                    index: index_audit,
                }
            })
            .collect();
        let mut unknown: Vec<UnknownKeys> = self
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
        let mut nodes: Vec<NodeKeys> = self
            .nodes
            .into_iter()
            .map(|(node, keys)| NodeKeys { node, keys })
            .collect();
        nodes.sort_by(|a, b| a.node.cmp(&b.node));
        let mut hottest: Vec<SlotKeys> = (0u16..)
            .zip(&self.slots)
            .filter(|(_, keys)| **keys > 0)
            .map(|(slot, keys)| SlotKeys { slot, keys: *keys })
            .collect();
        hottest.sort_by(|a, b| b.keys.cmp(&a.keys).then(a.slot.cmp(&b.slot)));
        hottest.truncate(options.hottest_slots);
        let ttls = std::iter::once("none")
            .chain(TTL_BUCKETS.iter().map(|(_, name)| *name))
            .chain(std::iter::once("more"))
            .zip(self.ttls)
            .map(|(below, keys)| TtlBucket { below, keys })
            .collect();
        AuditReport {
            version: AUDIT_VERSION,
            keys: self.keys,
            sampled,
            patterns,
            unknown,
            nodes,
            hottest_slots: hottest,
            keys_per_slot_range: self
                .slots
                .chunks(SLOTS_PER_RANGE)
                .map(|range| range.iter().sum())
                .collect(),
            ttls,
            fixed: options.fix.then_some(self.fixed),
            previous,
        }
    }
}

/// Maps serialised as lists of pairs: JSON object keys must be strings, and these keys are
/// tuples.
mod pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::HashMap;
    use std::hash::Hash;

    pub(super) fn serialize<S: Serializer, K: Serialize, V: Serialize>(
        map: &HashMap<K, V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter())
    }

    pub(super) fn deserialize<'de, D, K, V>(deserializer: D) -> Result<HashMap<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
    {
        Vec::<(K, V)>::deserialize(deserializer).map(|pairs| pairs.into_iter().collect())
    }
}
