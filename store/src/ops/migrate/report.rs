//! What a migration (or its dry run) did, and what its verification found: serialisable, and
//! kept in the checkpoint so a resumed run reports the whole migration.

use serde::{Deserialize, Serialize};

/// The version of [`MigrationReport`]'s and [`VerifyReport`]'s JSON shape.
pub const MIGRATION_VERSION: u32 = 1;

/// Most groups of unmatched keys kept apart; the rest are counted in one group.
const MAX_GROUPS: usize = 200;

/// One key's old and new name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMove {
    /// Its name on the source.
    pub from: String,
    /// Its name on the target.
    pub to: String,
}

/// The keys of one source pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatternMove {
    /// The key definition's code name (the same in both schemas).
    pub name: String,
    /// Its pattern in the source schema.
    pub from: String,
    /// Its pattern in the target schema; `None` when the target cannot take it.
    pub to: Option<String>,
    /// Why the target cannot take it.
    pub reason: Option<String>,
    /// Keys found on the source.
    pub keys: u64,
    /// Keys restored on the target.
    pub copied: u64,
    /// Keys already on the target (left as they were: a resumed run, or `replace` off).
    pub already_there: u64,
    /// The first key moved, for the reader to check the new layout.
    pub example: Option<KeyMove>,
}

/// Keys that match no source pattern (or match one the target cannot take), grouped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmatchedKeys {
    /// The lint code (`K001`...), or `K005` for a key that is not UTF-8.
    pub code: String,
    /// The nearest pattern's code name.
    pub nearest: Option<String>,
    /// The key's first segment, when no pattern is near.
    pub prefix: Option<String>,
    /// Why, for the first key.
    pub reason: String,
    /// Keys in the group.
    pub count: u64,
    /// Of them, copied unchanged (when asked).
    pub copied: u64,
    /// Some of them.
    pub examples: Vec<String>,
}

/// What a migration did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationReport {
    /// [`MIGRATION_VERSION`].
    pub version: u32,
    /// Whether nothing was written (the plan).
    pub dry_run: bool,
    /// Whether the run continued from a checkpoint (the counts cover every run).
    pub resumed: bool,
    /// When the checkpoint says this migration already finished (seconds since the Unix epoch),
    /// with source and target as it left them: nothing was copied, the counts are the finished
    /// run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_before: Option<u64>,
    /// Keys scanned on the source.
    pub keys: u64,
    /// Keys restored on the target.
    pub copied: u64,
    /// Keys the target already held.
    pub already_there: u64,
    /// Keys gone between the scan and the copy (expired or deleted).
    pub vanished: u64,
    /// Per source key definition, in schema order.
    pub patterns: Vec<PatternMove>,
    /// Keys no target pattern takes, largest group first: skipped, or copied unchanged when
    /// asked.
    pub unmatched: Vec<UnmatchedKeys>,
}

impl MigrationReport {
    /// Keys skipped: of a pattern the target cannot take, or matching no pattern and not
    /// copied unchanged.
    pub fn skipped(&self) -> u64 {
        let untaken: u64 = self.patterns.iter().filter(|p| p.to.is_none()).map(|p| p.keys).sum();
        untaken + self.unmatched.iter().map(|u| u.count - u.copied).sum::<u64>()
    }

    /// The keys of the pattern named `name`.
    pub fn pattern(&self, name: &str) -> Option<&PatternMove> {
        self.patterns.iter().find(|p| p.name == name)
    }

    /// Counts an unmatched key in its group.
    pub(super) fn add_unmatched(&mut self, group: UnmatchedKeys, key: &[u8], copied: bool, examples: usize) {
        let index = match self
            .unmatched
            .iter()
            .position(|u| (&u.code, &u.nearest, &u.prefix) == (&group.code, &group.nearest, &group.prefix))
        {
            Some(index) => index,
            None if self.unmatched.len() < MAX_GROUPS => {
                self.unmatched.push(group);
                self.unmatched.len() - 1
            }
            None => {
                let other = self
                    .unmatched
                    .iter()
                    .position(|u| u.prefix.as_deref() == Some("(other)"));
                other.unwrap_or_else(|| {
                    self.unmatched.push(UnmatchedKeys {
                        prefix: Some("(other)".into()),
                        nearest: None,
                        reason: "more groups than are kept apart".into(),
                        ..group
                    });
                    self.unmatched.len() - 1
                })
            }
        };
        let entry = &mut self.unmatched[index];
        entry.count += 1;
        entry.copied += u64::from(copied);
        if entry.examples.len() < examples {
            entry.examples.push(String::from_utf8_lossy(key).into_owned());
        }
    }

    /// Sorts the groups, largest first, for the final report.
    pub(super) fn finish(&mut self) {
        self.unmatched
            .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.examples.cmp(&b.examples)));
    }
}

/// The keys of one pattern, checked on the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatternCheck {
    /// The key definition's code name.
    pub name: String,
    /// Keys on the source.
    pub source_keys: u64,
    /// Of them, found on the target under their new name.
    pub on_target: u64,
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// [`MIGRATION_VERSION`].
    pub version: u32,
    /// Source keys checked for presence (every one that should have been copied).
    pub checked: u64,
    /// Of them, keys accounted for by their target slot's key count rather than looked for one
    /// by one (see [`super::VerifyOptions::count_slots`]).
    #[serde(default)]
    pub counted: u64,
    /// Of them, values compared (`DUMP` byte for byte) and TTLs compared.
    pub compared: u64,
    /// Keys missing on the target.
    pub missing: u64,
    /// Keys whose value differs.
    pub value_differs: u64,
    /// Keys whose remaining TTL differs by more than the tolerance (or has a TTL on one side
    /// only).
    pub ttl_differs: u64,
    /// Some of the keys with a problem, by their source name.
    pub examples: Vec<String>,
    /// Per source key definition, in schema order (those with keys).
    pub patterns: Vec<PatternCheck>,
}

impl VerifyReport {
    /// Keys missing or different.
    pub fn problem_count(&self) -> u64 {
        self.missing + self.value_differs + self.ttl_differs
    }
}
