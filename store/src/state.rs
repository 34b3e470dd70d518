//! Two-tier state (`state` keys): entries live in the process, and are written to Redis only
//! when the process lets them go (shutdown, a partition handed to another instance), then read
//! back by whichever instance misses them locally. Reads of a local entry never touch Redis.
//!
//! A backed-up entry is an envelope around the key's codec bytes (compressed when the codec is
//! `lz4(...)`): `ks2` (a format tag), the write time and the entry's collection interval in
//! milliseconds (8 bytes each, big-endian), then the value. Its TTL is the interval times the
//! declared `ttl_factor`, within the key's `per_write` bound. A backup older than `max_age`, or
//! one that does not decode, is discarded on restore and counted.

use crate::codec::Codec;
use crate::codec::{decode, encode};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::policy::KeyId;
use crate::recording;
use crate::telemetry::{self, op, Op};
use crate::write::Write;
use keyschema::{FormatError, Primitive, StatePolicy};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The tag every backed-up entry starts with; another format gets another tag.
const TAG: &[u8; 3] = b"ks2";
const HEADER: usize = TAG.len() + 16;
/// Entries written per batch of a backup (each batch is pipelined, per slot on a cluster).
const BACKUP_BATCH: usize = 10_000;

/// An entry in the process: its value and its collection interval.
struct Entry<V> {
    value: V,
    interval: Duration,
}

/// What [`TwoTier::restore`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restored<V> {
    /// A backup young enough: now the local entry (the backup stays until its TTL).
    Fresh(V),
    /// No backup.
    Missing,
    /// A backup written longer ago than `max_age`: discarded.
    Stale {
        /// How old it was.
        age: Duration,
    },
    /// A backup that does not decode (another format, a corrupt value): discarded.
    Corrupt {
        /// Why.
        reason: String,
    },
}

/// What a two-tier state did: backups written, restores and what they found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TierCounts {
    /// Entries written to Redis (and dropped locally).
    pub backed_up: u64,
    /// Entries read back and kept.
    pub restored: u64,
    /// Backups too old, discarded.
    pub stale: u64,
    /// Backups that did not decode, discarded.
    pub corrupt: u64,
    /// Restores that found nothing.
    pub missing: u64,
}

/// What one backup wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackupReport {
    /// Entries written.
    pub entries: u64,
    /// Bytes of their values as stored (after the codec's compression, with the envelope).
    pub bytes: u64,
}

#[derive(Default)]
struct Counters([AtomicU64; 5]);

impl Counters {
    fn add(&self, which: usize, n: u64) {
        self.0[which].fetch_add(n, Ordering::Relaxed);
    }
}

/// State kept in this process and backed up to a `state` key of the schema: see the module
/// documentation. Generated code builds it (`store.ctx_context_tier()`); keep one per process.
pub struct TwoTier<K, C: Codec> {
    core: Core,
    id: KeyId,
    format: fn(&K) -> std::result::Result<String, FormatError>,
    policy: StatePolicy,
    local: Mutex<HashMap<K, Entry<C::Value>>>,
    counts: Counters,
}

impl<K, C> TwoTier<K, C>
where
    K: Eq + Hash + Clone,
    C: Codec,
{
    /// The two-tier state of key definition `id`, whose keys `format` builds from an id.
    /// `None` when `id` is not a `state` key.
    pub fn new(core: &Core, id: KeyId, format: fn(&K) -> std::result::Result<String, FormatError>) -> Option<Self> {
        let Some(Primitive::State(policy)) = core.primitive(id) else {
            return None;
        };
        Some(Self {
            core: core.clone(),
            id,
            format,
            policy: *policy,
            local: Mutex::new(HashMap::new()),
            counts: Counters::default(),
        })
    }

    fn local(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry<C::Value>>> {
        // A panic in a caller's `update` closure cannot leave an entry half-written: the map
        // only ever holds whole entries.
        self.local.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `value` for `id` in the process; `interval` is how often its source reports (its
    /// backup lives `ttl_factor` intervals).
    pub fn insert(&self, id: K, value: C::Value, interval: Duration) {
        self.local().insert(id, Entry { value, interval });
    }

    /// Changes the local entry of `id` in place; `None` when there is none.
    pub fn update<R>(&self, id: &K, change: impl FnOnce(&mut C::Value) -> R) -> Option<R> {
        self.local().get_mut(id).map(|entry| change(&mut entry.value))
    }

    /// A copy of the local entry of `id` (no Redis call).
    pub fn get(&self, id: &K) -> Option<C::Value>
    where
        C::Value: Clone,
    {
        self.local().get(id).map(|entry| entry.value.clone())
    }

    /// Drops the local entry of `id`.
    pub fn remove(&self, id: &K) -> Option<C::Value> {
        self.local().remove(id).map(|entry| entry.value)
    }

    /// How many entries are held locally.
    pub fn len(&self) -> usize {
        self.local().len()
    }

    /// Whether no entry is held locally.
    pub fn is_empty(&self) -> bool {
        self.local().is_empty()
    }

    /// The counts so far.
    pub fn counts(&self) -> TierCounts {
        let [backed_up, restored, stale, corrupt, missing] =
            std::array::from_fn(|i| self.counts.0[i].load(Ordering::Relaxed));
        TierCounts {
            backed_up,
            restored,
            stale,
            corrupt,
            missing,
        }
    }

    /// The local entry of `id`, or its backup restored: what a consumer calls per message.
    pub async fn get_or_restore(&self, id: &K) -> Result<Option<C::Value>>
    where
        C::Value: Clone,
    {
        if let Some(value) = self.get(id) {
            return Ok(Some(value));
        }
        Ok(match self.restore(id).await? {
            Restored::Fresh(value) => Some(value),
            _ => None,
        })
    }

    /// Reads the backup of `id`: a fresh one becomes the local entry (and is answered); a stale or
    /// corrupt one is discarded (deleted) and counted.
    pub async fn restore(&self, id: &K) -> Result<Restored<C::Value>>
    where
        C::Value: Clone,
    {
        telemetry::observe(&self.core, Op::on(self.id, op!("STATE")), async move {
            let restored = self.read_back(id).await;
            if let Ok(found) = &restored {
                recording::decision(match found {
                    Restored::Fresh(_) => "restored",
                    Restored::Stale { .. } => "stale",
                    Restored::Corrupt { .. } => "corrupt",
                    Restored::Missing => "missing",
                });
            }
            restored
        })
        .await
    }

    /// [`TwoTier::restore`], observed by its caller.
    async fn read_back(&self, id: &K) -> Result<Restored<C::Value>>
    where
        C::Value: Clone,
    {
        let key = (self.format)(id)?;
        let bytes: Option<Vec<u8>> = self.core.read(redis::cmd("GET").arg(&key), &key, "GET").await?;
        let Some(bytes) = bytes else {
            self.counts.add(4, 1);
            return Ok(Restored::Missing);
        };
        let found = match open::<C>(&key, &bytes) {
            Err(reason) => Restored::Corrupt { reason },
            Ok((written_at, interval, value)) => {
                let age = Duration::from_millis(now_millis().saturating_sub(written_at));
                if age > Duration::from_millis(self.policy.max_age.0) {
                    Restored::Stale { age }
                } else {
                    self.insert(id.clone(), value.clone(), interval);
                    Restored::Fresh(value)
                }
            }
        };
        match &found {
            Restored::Fresh(_) => self.counts.add(1, 1),
            Restored::Stale { .. } => self.counts.add(2, 1),
            Restored::Corrupt { .. } => self.counts.add(3, 1),
            Restored::Missing => {}
        }
        if matches!(found, Restored::Stale { .. } | Restored::Corrupt { .. }) {
            // Nobody should restore it again; a failed delete leaves it to its TTL.
            let _ = self.core.delete(&key).await;
        }
        Ok(found)
    }

    /// Backs up the entries of `ids` held locally and drops them locally once written.
    pub async fn backup(&self, ids: &[K]) -> Result<BackupReport> {
        let taken: Vec<(K, Entry<C::Value>)> = {
            let mut local = self.local();
            ids.iter()
                .filter_map(|id| local.remove(id).map(|entry| (id.clone(), entry)))
                .collect()
        };
        self.write_back(taken).await
    }

    /// Backs up every local entry whose id `leaving` selects (the partitions handed to another
    /// instance), dropping them locally once written.
    pub async fn backup_where(&self, leaving: impl Fn(&K) -> bool) -> Result<BackupReport> {
        let taken: Vec<(K, Entry<C::Value>)> = {
            let mut local = self.local();
            let ids: Vec<K> = local.keys().filter(|id| leaving(id)).cloned().collect();
            ids.into_iter()
                .filter_map(|id| local.remove(&id).map(|entry| (id, entry)))
                .collect()
        };
        self.write_back(taken).await
    }

    /// Backs up every local entry (shutdown).
    pub async fn backup_all(&self) -> Result<BackupReport> {
        let taken: Vec<(K, Entry<C::Value>)> = self.local().drain().collect();
        self.write_back(taken).await
    }

    /// Writes `entries` in batches; the entries of a batch that failed go back to the local map
    /// (nothing is lost: a later backup retries them) and the error is returned.
    async fn write_back(&self, entries: Vec<(K, Entry<C::Value>)>) -> Result<BackupReport> {
        telemetry::observe(&self.core, Op::on(self.id, op!("STATE")), async move {
            recording::decision("backed_up");
            self.write_batches(entries).await
        })
        .await
    }

    /// [`TwoTier::write_back`], observed by its caller.
    async fn write_batches(&self, mut entries: Vec<(K, Entry<C::Value>)>) -> Result<BackupReport> {
        let mut report = BackupReport::default();
        let policy = self.core.policy(self.id);
        while !entries.is_empty() {
            // The last entries, at most a batch of them; `entries` keeps the others.
            let chunk = entries.split_off(entries.len().saturating_sub(BACKUP_BATCH));
            let mut batch = crate::batch::Batch::new(&self.core);
            let mut bytes = 0;
            let mut failed = None;
            for (id, entry) in &chunk {
                let key = match (self.format)(id) {
                    Ok(key) => key,
                    Err(error) => {
                        failed = Some(Error::from(error));
                        break;
                    }
                };
                let sealed = match seal::<C>(&key, &entry.value, entry.interval) {
                    Ok(sealed) => sealed,
                    Err(error) => {
                        failed = Some(error);
                        break;
                    }
                };
                bytes += sealed.len() as u64;
                let ttl = self.ttl_for(entry.interval);
                batch.write(Write::set(policy, &key, sealed, Some(ttl)));
            }
            let outcome = match failed {
                Some(error) => Err(error),
                None => batch.send().await,
            };
            if let Err(error) = outcome {
                let mut local = self.local();
                for (id, entry) in chunk.into_iter().chain(entries) {
                    local.entry(id).or_insert(entry);
                }
                return Err(error);
            }
            report.entries += chunk.len() as u64;
            report.bytes += bytes;
        }
        self.counts.add(0, report.entries);
        Ok(report)
    }

    /// `interval × ttl_factor`, within the key's bound, at least a millisecond.
    fn ttl_for(&self, interval: Duration) -> Duration {
        let wanted = interval.saturating_mul(self.policy.ttl_factor);
        let bound = self.core.policy(self.id).ttl.unwrap_or(wanted);
        wanted.min(bound).max(Duration::from_millis(1))
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The envelope of a value: tag, write time, interval, then the codec's bytes.
fn seal<C: Codec>(key: &str, value: &C::Value, interval: Duration) -> Result<Vec<u8>> {
    let body = encode::<C>(key, value)?;
    let mut sealed = Vec::with_capacity(HEADER + body.len());
    sealed.extend_from_slice(TAG);
    sealed.extend_from_slice(&now_millis().to_be_bytes());
    sealed.extend_from_slice(&u64::try_from(interval.as_millis()).unwrap_or(u64::MAX).to_be_bytes());
    sealed.extend_from_slice(&body);
    Ok(sealed)
}

/// The write time, interval and value of an envelope, or why it is not one.
fn open<C: Codec>(key: &str, bytes: &[u8]) -> std::result::Result<(u64, Duration, C::Value), String> {
    let (header, body) = bytes
        .split_at_checked(HEADER)
        .ok_or_else(|| format!("{} bytes, shorter than the {HEADER}-byte header", bytes.len()))?;
    if &header[..TAG.len()] != TAG {
        return Err("not a keyschema state backup (no `ks2` tag)".into());
    }
    let number = |at: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&header[at..at + 8]);
        u64::from_be_bytes(word)
    };
    let value = decode::<C>(key, body).map_err(|error| error.to_string())?;
    Ok((number(TAG.len()), Duration::from_millis(number(TAG.len() + 8)), value))
}
