//! An audit during a layout change (`--previous OLD`): keys of the new schema's layout are
//! audited as always; keys it does not know but the previous schema does are counted per old
//! pattern with their remaining TTLs (how long the bridge still lasts), not as unknown; and a
//! key of the new layout whose old-layout twin still exists (the same values under the old
//! pattern) is counted as a stale twin, since a bridge read falling back to it would read a value
//! older than the new one, and a migration would not overwrite it.

use crate::ops::nodes::SlotOwners;
use crate::ops::sized_cmd;
use keyschema::{KeySchema, Matcher, Schema, Translation};
use redis::Value;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The previous schema, ready to match keys and to name a new key's old twin.
pub(super) struct Rollout<'s> {
    previous: &'s Schema,
    to_previous: Translation,
    /// Where twins are looked for: the primary owning each one's slot.
    owners: SlotOwners,
}

impl<'s> Rollout<'s> {
    pub(super) fn new(current: Arc<KeySchema>, previous: &'s Schema, owners: SlotOwners) -> Self {
        Self {
            previous,
            to_previous: Translation::new(current, previous.model_arc()),
            owners,
        }
    }

    /// Whether each twin exists (`false` for none), one `EXISTS` each, sent to the primary
    /// owning its slot (on a cluster a twin lives on another slot than its new key).
    pub(super) async fn exist(&self, twins: &[Option<String>]) -> crate::error::Result<Vec<bool>> {
        let asked: Vec<(&[u8], redis::Cmd)> = twins
            .iter()
            .flatten()
            .map(|twin| (twin.as_bytes(), sized_cmd(&[b"EXISTS", twin.as_bytes()])))
            .collect();
        if asked.is_empty() {
            return Ok(vec![false; twins.len()]);
        }
        let mut replies = self.owners.send(asked).await?.into_iter();
        Ok(twins
            .iter()
            .map(|twin| twin.is_some() && matches!(replies.next(), Some(Value::Int(1))))
            .collect())
    }

    pub(super) fn matcher(&self) -> &Matcher {
        self.previous.matcher()
    }

    /// The old-layout twin of `key` (a key of the current layout), when its pattern moved.
    pub(super) fn twin(&self, key: &[u8]) -> Option<String> {
        let text = std::str::from_utf8(key).ok()?;
        let mut twin = String::new();
        self.to_previous.translate(text, &mut twin).ok()?;
        (twin != text).then_some(twin)
    }
}

/// Keys of one old pattern found during the audit; kept in an audit's checkpoint.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(super) struct PreviousTally {
    pub(super) keys: u64,
    pub(super) without_ttl: u64,
    pub(super) longest_ttl_ms: u64,
    pub(super) examples: Vec<String>,
}

/// Keys of one pattern of the old layout still in Redis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviousPattern {
    /// The old key definition.
    pub name: String,
    /// Its pattern.
    pub pattern: String,
    /// Keys still in its layout.
    pub keys: u64,
    /// Of them, keys without a TTL: they stay until migrated or deleted.
    pub without_ttl: u64,
    /// The longest remaining TTL among the others, in milliseconds: when they will all be gone.
    pub longest_ttl_ms: Option<u64>,
    /// Some of the keys.
    pub examples: Vec<String>,
}

/// Keys of the new layout whose old-layout twin still exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleTwins {
    /// The new key definition.
    pub name: String,
    /// New keys with an old twin.
    pub count: u64,
    /// Some of the new keys.
    pub examples: Vec<String>,
}

/// A rollout's progress, in an audit with a previous schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviousLayout {
    /// Keys of the old layout, per old pattern with any.
    pub patterns: Vec<PreviousPattern>,
    /// New keys with a stale old twin, per new pattern with any.
    pub twins: Vec<StaleTwins>,
}

impl PreviousLayout {
    /// Keys still in the old layout: the rollout is done when this is 0.
    pub fn old_keys(&self) -> u64 {
        self.patterns.iter().map(|p| p.keys).sum()
    }

    /// New keys whose old twin still exists.
    pub fn twin_count(&self) -> u64 {
        self.twins.iter().map(|t| t.count).sum()
    }

    pub(super) fn from_tallies(
        previous: &KeySchema,
        current: &KeySchema,
        tallies: Vec<PreviousTally>,
        twins: Vec<(u64, Vec<String>)>,
    ) -> Self {
        Self {
            patterns: tallies
                .into_iter()
                .enumerate()
                .filter(|(_, tally)| tally.keys > 0)
                .map(|(index, tally)| PreviousPattern {
                    name: previous.keys[index].name.clone(),
                    pattern: previous.keys[index].pattern.template.clone(),
                    keys: tally.keys,
                    without_ttl: tally.without_ttl,
                    longest_ttl_ms: (tally.keys > tally.without_ttl).then_some(tally.longest_ttl_ms),
                    examples: tally.examples,
                })
                .collect(),
            twins: twins
                .into_iter()
                .enumerate()
                .filter(|(_, (count, _))| *count > 0)
                .map(|(index, (count, examples))| StaleTwins {
                    name: current.keys[index].name.clone(),
                    count,
                    examples,
                })
                .collect(),
        }
    }
}
