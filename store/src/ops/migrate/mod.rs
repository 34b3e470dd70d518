//! Migration of a keyspace between layouts: every key of the source (every primary of a
//! cluster, in parallel) is matched against the source schema and copied under the name the
//! target schema gives the key definition of the same name (`job:state:<id>` to
//! `job:state:{<id>}`), with `DUMP` on the source and `RESTORE` with the remaining TTL on the
//! target, so type, value and TTL survive. Pipelined: one `PTTL`+`DUMP` pipeline per page on the
//! source node, `RESTORE`s in one pipeline per target node. Checkpointed after every page and
//! resumable. The source is only read: never modified, never deleted.
//!
//! A key the target already holds is left as it is (`BUSYKEY`, counted), unless `replace` is
//! asked: a resumed run finds the keys copied before the interruption there, so every key ends
//! up on the target exactly once.

mod ledger;
mod report;
mod verify;

pub use report::{KeyMove, MigrationReport, PatternCheck, PatternMove, UnmatchedKeys, VerifyReport, MIGRATION_VERSION};
pub use verify::{verify, VerifyOptions};

use super::checkpoint::{scan_nodes, Checkpoint, CheckpointLock, Endpoint, Finished};
use super::Progress;
use super::{sized_cmd, OpsError};
use crate::connection::Node;
use crate::ops::nodes::SlotOwners;
use crate::store::Store;
use crate::telemetry::{self, op, Op};
use crate::util::locked;
use keyschema::{Translation, Untranslated};
use ledger::Ledger;
use redis::Value;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Pages copied at once per source node: the source dumps one while the target restores the
/// other.
const PAGES_IN_FLIGHT: usize = 2;

/// How a migration runs.
#[derive(Clone)]
pub struct MigrateOptions {
    /// Keys asked for per `SCAN` call: a page, copied in one pipeline each way.
    pub scan_count: usize,
    /// Only count and list what would be copied: write nothing.
    pub dry_run: bool,
    /// Copy keys that match no source pattern under their own name (they are skipped and
    /// listed otherwise).
    pub copy_unmatched: bool,
    /// Overwrite keys the target already holds (`RESTORE ... REPLACE`).
    pub replace: bool,
    /// Where to keep the checkpoint; a run finding one there resumes from it. A finished run's
    /// checkpoint stays, recording that it finished and the servers it left: the same
    /// migration run again answers so ([`MigrationReport::finished_before`]), and refuses
    /// ([`OpsError::CheckpointFinished`]) when either side changed since.
    pub checkpoint: Option<PathBuf>,
    /// How often the checkpoint is saved (zero: after every page). A resumed run copies again
    /// what was copied after the last save (found there, and compared); a save writes the
    /// verification's ledger too (a count per target slot, its sample), so not every page.
    pub checkpoint_every: Duration,
    /// Example keys kept per group.
    pub examples: usize,
    /// Told of the keys scanned so far after each page.
    pub progress: Option<Progress>,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        Self {
            scan_count: 1000,
            dry_run: false,
            copy_unmatched: false,
            replace: false,
            checkpoint: None,
            checkpoint_every: Duration::from_secs(1),
            examples: 5,
            progress: None,
        }
    }
}

impl std::fmt::Debug for MigrateOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrateOptions")
            .field("scan_count", &self.scan_count)
            .field("dry_run", &self.dry_run)
            .field("copy_unmatched", &self.copy_unmatched)
            .field("replace", &self.replace)
            .field("checkpoint", &self.checkpoint)
            .field("checkpoint_every", &self.checkpoint_every)
            .field("examples", &self.examples)
            .finish_non_exhaustive()
    }
}

/// Where a scanned key goes.
enum Destination {
    /// Under its new name, as a key of the source pattern `pattern`.
    Pattern { pattern: usize, to: String },
    /// Matched a pattern the target cannot take: skipped.
    NoTarget { pattern: usize },
    /// Matched no source pattern: in this group, copied unchanged when asked.
    Unmatched(UnmatchedKeys),
}

/// Where `key` goes.
fn destination(translation: &Translation, key: &[u8]) -> Destination {
    let Ok(text) = std::str::from_utf8(key) else {
        return Destination::Unmatched(group("K005", None, key, "the key is not UTF-8".into(), translation));
    };
    let mut to = String::new();
    match translation.translate(text, &mut to) {
        Ok(pattern) => Destination::Pattern { pattern, to },
        Err(Untranslated::NoTarget { key, .. }) => Destination::NoTarget { pattern: key },
        Err(Untranslated::NoPattern(failure)) => Destination::Unmatched(group(
            failure.code.as_str(),
            failure.nearest,
            key,
            failure.message,
            translation,
        )),
    }
}

fn group(code: &str, nearest: Option<usize>, key: &[u8], reason: String, translation: &Translation) -> UnmatchedKeys {
    let schema = translation.from_schema();
    UnmatchedKeys {
        code: code.to_string(),
        nearest: nearest.map(|index| schema.keys[index].name.clone()),
        prefix: nearest.is_none().then(|| super::prefix_of(key, schema.separator)),
        reason,
        count: 0,
        copied: 0,
        examples: Vec::new(),
    }
}

/// An empty report listing every source pattern and its target.
fn empty_report(translation: &Translation, dry_run: bool) -> MigrationReport {
    let (from, to) = (translation.from_schema(), translation.to_schema());
    let patterns = from
        .keys
        .iter()
        .enumerate()
        .map(|(index, def)| {
            let target = translation.target_of(index);
            PatternMove {
                name: def.name.clone(),
                from: def.pattern.template.clone(),
                to: target.ok().map(|t| to.keys[t].pattern.template.clone()),
                reason: target.err().map(str::to_string),
                keys: 0,
                copied: 0,
                already_there: 0,
                example: None,
            }
        })
        .collect();
    MigrationReport {
        version: MIGRATION_VERSION,
        dry_run,
        resumed: false,
        finished_before: None,
        keys: 0,
        copied: 0,
        already_there: 0,
        vanished: 0,
        patterns,
        unmatched: Vec::new(),
    }
}

/// What became of one key sent to the target.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Copied,
    AlreadyThere,
    Vanished,
    /// Not sent: a dry run, or a key skipped.
    NotSent,
}

/// Migrates the keyspace of `source` (read with its schema) to `target` (written with its
/// schema); see the module documentation.
///
/// ```no_run
/// # async fn demo(source: keyschema_store::Store, target: keyschema_store::Store) -> Result<(), keyschema_store::ops::OpsError> {
/// use keyschema_store::ops::{migrate, MigrateOptions};
/// let plan = migrate(&source, &target, &MigrateOptions { dry_run: true, ..Default::default() }).await?;
/// println!("{} keys to copy, {} skipped", plan.keys - plan.skipped(), plan.skipped());
/// let done = migrate(&source, &target, &MigrateOptions {
///     checkpoint: Some("migration.checkpoint".into()),
///     ..Default::default()
/// })
/// .await?;
/// println!("{} copied", done.copied);
/// # Ok(()) }
/// ```
pub async fn migrate(source: &Store, target: &Store, options: &MigrateOptions) -> Result<MigrationReport, OpsError> {
    copy(source, target, options, None).await.map(|(report, _)| report)
}

/// Migrates as [`migrate`] does, then verifies the copy as [`verify`] does; faster when
/// `verify.count_slots` lets the copy keep count of the keys it creates in each target slot: the
/// slots whose counts add up afterwards are not searched key by key (when all do, the source is
/// not scanned again), and the keys compared are every `compare_every`-th the copy put on the
/// target. A resumed run continues the counts its checkpoint kept; one comparing every key, or
/// re-run after its checkpoint says it finished, looks for every key.
///
/// ```no_run
/// # async fn demo(source: keyschema_store::Store, target: keyschema_store::Store) -> Result<(), keyschema_store::ops::OpsError> {
/// use keyschema_store::ops::{migrate_verified, MigrateOptions, VerifyOptions};
/// let (copy, check) = migrate_verified(&source, &target, &MigrateOptions::default(), &VerifyOptions::default()).await?;
/// assert_eq!(check.missing, 0, "{} copied, {} missing", copy.copied, check.missing);
/// # Ok(()) }
/// ```
pub async fn migrate_verified(
    source: &Store,
    target: &Store,
    options: &MigrateOptions,
    verify: &VerifyOptions,
) -> Result<(MigrationReport, VerifyReport), OpsError> {
    let counted = verify.count_slots && verify.compare_every > 1;
    // Every verification needs the ledger's list of the keys found already on the target (which
    // it compares, whatever its sample); only a counting one trusts its counts.
    let (report, ledger) = copy(
        source,
        target,
        options,
        (!options.dry_run).then_some(verify.compare_every),
    )
    .await?;
    let verified = match ledger {
        Some(ledger) => {
            let closed = ledger.close(&SlotOwners::of(&target.connection()).await?).await?;
            if counted {
                verify::verify_counted(source, target, verify, &report, closed).await?
            } else {
                verify::verify_with_sample(source, target, verify, &closed.sample).await?
            }
        }
        None => verify::verify(source, target, verify).await?,
    };
    Ok((report, verified))
}

/// A migration's checkpointed state: its report so far and, when the copy keeps count for its
/// verification, the ledger.
#[derive(Debug, Serialize, Deserialize)]
struct CopyState {
    #[serde(flatten)]
    report: MigrationReport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ledger: Option<Ledger>,
}

/// The copy; with `sample_every` it keeps a ledger picking every n-th key for comparison (a
/// resumed run continues the checkpoint's; without one there, it keeps none).
async fn copy(
    source: &Store,
    target: &Store,
    options: &MigrateOptions,
    sample_every: Option<u64>,
) -> Result<(MigrationReport, Option<Ledger>), OpsError> {
    let translation = Translation::new(source.core().schema_arc(), target.core().schema_arc());
    let nodes = source.connection().nodes().await?;
    let names: Vec<String> = nodes.iter().map(Node::name).collect();
    let (from, to) = (translation.from_schema(), translation.to_schema());
    let checkpoint_path = options.checkpoint.as_deref().filter(|_| !options.dry_run);
    // Held until the copy ends: a second run on this checkpoint is refused meanwhile.
    let _lock = checkpoint_path.map(CheckpointLock::acquire).transpose()?;
    let target_nodes = target.connection().nodes().await?;
    let fresh = |dry_run| CopyState {
        report: empty_report(&translation, dry_run),
        ledger: None,
    };
    let loaded = match checkpoint_path {
        Some(path) => Checkpoint::<CopyState>::load(path, "migrate", &[from, to], &names)?,
        None => None,
    };
    let mut checkpoint = match loaded {
        Some(checkpoint) => match &checkpoint.finished {
            Some(finished) => {
                let path = checkpoint_path
                    .map(|path| path.display().to_string())
                    .unwrap_or_default();
                let changed = |side, change| OpsError::CheckpointFinished {
                    path: path.clone(),
                    side,
                    change,
                };
                if let Some(change) = finished.source.change(&Endpoint::of(&nodes).await?) {
                    return Err(changed("source", change));
                }
                if let Some(change) = finished.target.change(&Endpoint::of(&target_nodes).await?) {
                    return Err(changed("target", change));
                }
                let mut report = checkpoint.state.report;
                report.finished_before = Some(finished.at);
                return Ok((report, None));
            }
            None => {
                let mut checkpoint = checkpoint;
                checkpoint.state.report.resumed = true;
                checkpoint
            }
        },
        None => Checkpoint::new("migrate", &[from, to], &names, fresh(options.dry_run)),
    };
    // RESTOREs go in one pipeline per target node; a resharding meanwhile makes them fail
    // (`MOVED`), and a resumed run reads the new map.
    let owners = SlotOwners::of(&target.connection()).await?;
    match sample_every {
        Some(every) if !checkpoint.state.report.resumed => {
            checkpoint.state.ledger = Some(Ledger::open(&owners, every).await?);
        }
        Some(_) => {}
        None => checkpoint.state.ledger = None,
    }
    let state = Mutex::new(checkpoint);
    scan_nodes(
        &nodes,
        &state,
        checkpoint_path,
        options.checkpoint_every,
        options.scan_count,
        PAGES_IN_FLIGHT,
        |node: Node, keys: Vec<Vec<u8>>| {
            let (state, translation, owners) = (&state, &translation, &owners);
            async move {
                let copied = copy_page(owners, translation, &node, &keys, options, state);
                telemetry::observe(source.core(), Op::keyless(op!("MIGRATE")), copied).await?;
                if let Some(progress) = &options.progress {
                    progress(locked(state).state.report.keys);
                }
                Ok(ControlFlow::Continue(()))
            }
        },
    )
    .await?;
    let mut checkpoint = state.into_inner().unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = checkpoint_path {
        // Kept, saying so: a second run of the same command answers that it is done, rather than
        // resuming a copy that has nothing left to copy.
        checkpoint.finished = Some(Finished {
            at: u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0),
            source: Endpoint::of(&nodes).await?,
            target: Endpoint::of(&target_nodes).await?,
        });
        checkpoint.save(path)?;
    }
    let CopyState { mut report, ledger } = checkpoint.state;
    report.finish();
    Ok((report, ledger))
}

/// Copies one page of source keys and counts what became of each.
async fn copy_page(
    owners: &SlotOwners,
    translation: &Translation,
    node: &Node,
    keys: &[Vec<u8>],
    options: &MigrateOptions,
    state: &Mutex<Checkpoint<CopyState>>,
) -> Result<(), OpsError> {
    let destinations: Vec<Destination> = keys.iter().map(|key| destination(translation, key)).collect();
    // What is sent, by position in `keys`, and under which name.
    let sent: Vec<(usize, &str)> = destinations
        .iter()
        .enumerate()
        .filter_map(|(index, destination)| match destination {
            Destination::Pattern { to, .. } => Some((index, to.as_str())),
            Destination::Unmatched(_) if options.copy_unmatched => {
                std::str::from_utf8(&keys[index]).ok().map(|to| (index, to))
            }
            _ => None,
        })
        .filter(|_| !options.dry_run)
        .collect();
    let mut outcomes = vec![Outcome::NotSent; keys.len()];
    if !sent.is_empty() {
        let mut read = node.pipe();
        for (index, _) in &sent {
            read.add_command(sized_cmd(&[b"PTTL", &keys[*index]]));
            read.add_command(sized_cmd(&[b"DUMP", &keys[*index]]));
        }
        let dumped = node.pipeline(read, 2 * sent.len()).await?;
        let mut restores = Vec::with_capacity(sent.len());
        let mut restored = Vec::with_capacity(sent.len());
        for ((index, to), replies) in sent.iter().zip(dumped.chunks(2)) {
            let (Value::Int(pttl), Value::BulkString(payload)) = (&replies[0], &replies[1]) else {
                outcomes[*index] = Outcome::Vanished; // Expired or deleted since the scan.
                continue;
            };
            let ttl = (*pttl).max(0).to_string();
            let args: [&[u8]; 5] = [b"RESTORE", to.as_bytes(), ttl.as_bytes(), payload, b"REPLACE"];
            let used = if options.replace { 5 } else { 4 };
            restores.push((to.as_bytes(), sized_cmd(&args[..used])));
            restored.push((*index, *to));
        }
        let replies = owners.send(restores).await?;
        for ((index, to), reply) in restored.into_iter().zip(replies) {
            outcomes[index] = match reply {
                Value::Okay => Outcome::Copied,
                Value::SimpleString(ok) if ok == "OK" => Outcome::Copied,
                Value::ServerError(error) if error.code() == "BUSYKEY" => Outcome::AlreadyThere,
                other => {
                    return Err(OpsError::Restore {
                        key: to.to_string(),
                        reply: format!("{other:?}"),
                    })
                }
            };
        }
    }

    let mut state = locked(state);
    let CopyState { report, ledger } = &mut state.state;
    if let Some(ledger) = ledger {
        for (index, to) in &sent {
            if matches!(outcomes[*index], Outcome::Copied | Outcome::AlreadyThere) {
                ledger.landed(&keys[*index], to, outcomes[*index] == Outcome::Copied);
            }
        }
    }
    for ((key, destination), outcome) in keys.iter().zip(destinations).zip(outcomes) {
        report.keys += 1;
        report.copied += u64::from(outcome == Outcome::Copied);
        report.already_there += u64::from(outcome == Outcome::AlreadyThere);
        report.vanished += u64::from(outcome == Outcome::Vanished);
        match destination {
            Destination::Pattern { pattern, to } => {
                let entry = &mut report.patterns[pattern];
                entry.keys += 1;
                entry.copied += u64::from(outcome == Outcome::Copied);
                entry.already_there += u64::from(outcome == Outcome::AlreadyThere);
                if entry.example.is_none() {
                    entry.example = Some(KeyMove {
                        from: String::from_utf8_lossy(key).into_owned(),
                        to,
                    });
                }
            }
            Destination::NoTarget { pattern } => report.patterns[pattern].keys += 1,
            Destination::Unmatched(group) => {
                let copied = matches!(outcome, Outcome::Copied | Outcome::AlreadyThere);
                report.add_unmatched(group, key, copied, options.examples);
            }
        }
    }
    Ok(())
}
