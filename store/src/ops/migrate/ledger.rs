//! What a copy records so that its verification need not look for every key: the keys each
//! target slot held before the copy (one count for a standalone target), the keys the copy
//! created in each, and the keys to compare (value and TTL): every n-th key it sent, and every
//! key it found already on the target.
//!
//! After the copy, a slot holding exactly what it held before plus what the copy created has
//! every one of its copied keys: nothing else writes to a migration's target, so a key lost
//! there could only be hidden by another key appearing in the same slot. A slot that does not
//! add up (a key lost, expired, written by someone else or replaced) has its keys looked for one
//! by one.

use crate::ops::nodes::SlotOwners;
use keyschema::SLOT_COUNT;

/// Counts and sample of one copy; see the module documentation. Kept in the migration's
/// checkpoint, so a resumed copy verifies by count too.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Ledger {
    /// Whether counts are per slot (a cluster) or one for the whole target.
    per_slot: bool,
    /// Keys held before the copy, per bucket (a slot, or the whole target).
    before: Vec<u64>,
    /// Keys the copy created (`RESTORE` answered `OK`), per bucket.
    created: Vec<u64>,
    /// Keys on the target so far, to pick every `sample_every`-th.
    landed: u64,
    sample_every: u64,
    /// The keys picked, and every key found already there: source name, target name.
    sample: Vec<(Vec<u8>, String)>,
}

impl Ledger {
    /// Reads the target's counts before anything is copied.
    pub(super) async fn open(owners: &SlotOwners, sample_every: u64) -> crate::error::Result<Self> {
        let before = owners.key_counts().await?;
        Ok(Self {
            per_slot: before.len() == usize::from(SLOT_COUNT),
            created: vec![0; before.len()],
            before,
            landed: 0,
            sample_every: sample_every.max(1),
            sample: Vec::new(),
        })
    }

    /// Notes a key now on the target under `to`: `created` by the copy, or already there. A key
    /// already there is always compared: the copy left it as it was (`BUSYKEY`), so it may hold
    /// another value than the source's, which no count would show.
    pub(super) fn landed(&mut self, from: &[u8], to: &str, created: bool) {
        if !created || self.landed % self.sample_every == 0 {
            self.sample.push((from.to_vec(), to.to_string()));
        }
        self.landed += 1;
        if created {
            self.created[bucket(self.per_slot, to)] += 1;
        }
    }

    /// Reads the target's counts again: which buckets add up.
    pub(super) async fn close(self, owners: &SlotOwners) -> crate::error::Result<Closed> {
        let after = owners.key_counts().await?;
        let adds_up = if after.len() == self.before.len() {
            self.before
                .iter()
                .zip(&self.created)
                .zip(&after)
                .map(|((before, created), after)| before + created == *after)
                .collect()
        } else {
            vec![false; self.before.len()]
        };
        Ok(Closed {
            per_slot: self.per_slot,
            adds_up,
            sample: self.sample,
        })
    }
}

/// A ledger read after the copy.
pub(super) struct Closed {
    per_slot: bool,
    adds_up: Vec<bool>,
    /// The keys picked for comparison: source name, target name.
    pub(super) sample: Vec<(Vec<u8>, String)>,
}

impl Closed {
    /// Whether every bucket adds up: every copied key is on the target.
    pub(super) fn all_add_up(&self) -> bool {
        self.adds_up.iter().all(|adds_up| *adds_up)
    }

    /// Whether the key `to`'s bucket adds up, so that the key need not be looked for.
    pub(super) fn proves(&self, to: &str) -> bool {
        self.adds_up[bucket(self.per_slot, to)]
    }
}

/// The bucket counting key `to`: its slot, or the one bucket of a standalone target.
fn bucket(per_slot: bool, to: &str) -> usize {
    if per_slot {
        usize::from(keyschema::key_slot(to.as_bytes()))
    } else {
        0
    }
}
