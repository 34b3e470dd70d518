//! The verification pass after a migration: every source key that was to be copied is looked
//! for under its new name on the target; on every `compare_every`-th key the value (`DUMP`, byte
//! for byte) and the remaining TTL (within a tolerance) are compared too. Read-only on both
//! sides.
//!
//! Run right after a copy that kept count of the keys it created per target slot (its ledger),
//! the keys of slots whose counts add up are not looked for one by one: when every slot adds up,
//! the source is not scanned again and only the copy's sample is compared.

use super::ledger::Closed;
use super::report::{MigrationReport, PatternCheck, VerifyReport, MIGRATION_VERSION};
use super::{destination, Destination};
use crate::connection::Node;
use crate::ops::nodes::SlotOwners;
use crate::ops::{sized_cmd, OpsError};
use crate::store::Store;
use crate::telemetry::{self, op, Op};
use crate::util::locked;
use keyschema::Translation;
use redis::Value;
use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How a verification runs.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Keys asked for per `SCAN` call.
    pub scan_count: usize,
    /// Compare value and TTL of every n-th key (1: all; `u64::MAX`: presence only).
    pub compare_every: u64,
    /// How far a key's remaining TTL on the target may be from the source's.
    pub ttl_tolerance: Duration,
    /// Whether keys matching no pattern were copied unchanged (and so are looked for).
    pub copy_unmatched: bool,
    /// Example keys kept.
    pub examples: usize,
    /// After a copy ([`super::migrate_verified`]): trust the count of a target slot that holds
    /// what it held before plus what the copy created, instead of looking for each of its keys.
    /// A missing key is then only missed if another key appeared in its slot meanwhile, which
    /// nothing does on a target only the migration writes to.
    pub count_slots: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            scan_count: 1000,
            compare_every: 100,
            ttl_tolerance: Duration::from_secs(2),
            copy_unmatched: false,
            examples: 10,
            count_slots: true,
        }
    }
}

/// Verifies that the keys of `source` are on `target` in its layout; see the module
/// documentation.
pub async fn verify(source: &Store, target: &Store, options: &VerifyOptions) -> Result<VerifyReport, OpsError> {
    per_key(source, target, options, None, &HashSet::new()).await
}

/// Verifies key by key after a copy, comparing every `compare_every`-th key and every key of the
/// copy's `sample` (which holds each key it found already on the target: left as it was, it may
/// hold another value than the source's, and a sample by position could skip it).
pub(super) async fn verify_with_sample(
    source: &Store,
    target: &Store,
    options: &VerifyOptions,
    sample: &[(Vec<u8>, String)],
) -> Result<VerifyReport, OpsError> {
    let always: HashSet<&str> = sample.iter().map(|(_, to)| to.as_str()).collect();
    per_key(source, target, options, None, &always).await
}

/// Verifies a copy that kept a ledger: the keys of slots whose counts add up are not looked for;
/// when all add up, the copy's sample alone is compared.
pub(super) async fn verify_counted(
    source: &Store,
    target: &Store,
    options: &VerifyOptions,
    copy: &MigrationReport,
    ledger: Closed,
) -> Result<VerifyReport, OpsError> {
    if !ledger.all_add_up() {
        let always: HashSet<&str> = ledger.sample.iter().map(|(_, to)| to.as_str()).collect();
        return per_key(source, target, options, Some(&ledger), &always).await;
    }
    let mut report = empty_report(&Translation::new(
        source.core().schema_arc(),
        target.core().schema_arc(),
    ));
    for (check, moved) in report.patterns.iter_mut().zip(&copy.patterns) {
        check.source_keys = moved.copied + moved.already_there;
        check.on_target = check.source_keys;
    }
    let unmatched: u64 = copy.unmatched.iter().map(|group| group.copied).sum();
    report.checked = report.patterns.iter().map(|p| p.source_keys).sum::<u64>() + unmatched;
    report.counted = report.checked;
    report.patterns.retain(|p| p.source_keys > 0);
    compare_sample(source, target, options, &ledger.sample, &mut report).await?;
    Ok(report)
}

/// A report with nothing checked yet, one line per source pattern.
fn empty_report(translation: &Translation) -> VerifyReport {
    VerifyReport {
        version: MIGRATION_VERSION,
        checked: 0,
        counted: 0,
        compared: 0,
        missing: 0,
        value_differs: 0,
        ttl_differs: 0,
        examples: Vec::new(),
        patterns: translation
            .from_schema()
            .keys
            .iter()
            .map(|def| PatternCheck {
                name: def.name.clone(),
                source_keys: 0,
                on_target: 0,
            })
            .collect(),
    }
}

/// Compares value and TTL of the sampled keys (source name, target name) on both sides.
async fn compare_sample(
    source: &Store,
    target: &Store,
    options: &VerifyOptions,
    sample: &[(Vec<u8>, String)],
    report: &mut VerifyReport,
) -> crate::error::Result<()> {
    let (source_owners, target_owners) = (
        SlotOwners::of(&source.connection()).await?,
        SlotOwners::of(&target.connection()).await?,
    );
    let tolerance = i64::try_from(options.ttl_tolerance.as_millis()).unwrap_or(i64::MAX);
    // A page at a time, so that a large sample is not held in memory twice over.
    for page in sample.chunks(options.scan_count.max(1)) {
        let (on_source, on_target) = futures_util::future::try_join(
            ttls_and_values(&source_owners, page.iter().map(|(from, _)| from.as_slice())),
            ttls_and_values(&target_owners, page.iter().map(|(_, to)| to.as_bytes())),
        )
        .await?;
        for (((from, _), source), target) in page.iter().zip(on_source.chunks(2)).zip(on_target.chunks(2)) {
            let (source_ttl, target_ttl) = (ttl_of(&source[0]), ttl_of(&target[0]));
            if source_ttl == -2 {
                continue; // Gone from the source since the copy.
            }
            let problem = if target_ttl == -2 {
                report.missing += 1;
                true
            } else {
                compare(report, (source_ttl, &source[1]), (target_ttl, &target[1]), tolerance)
            };
            if problem && report.examples.len() < options.examples {
                report.examples.push(String::from_utf8_lossy(from).into_owned());
            }
        }
    }
    Ok(())
}

/// `PTTL` and `DUMP` of each key, in one pipeline per node.
async fn ttls_and_values<'k>(
    owners: &SlotOwners,
    keys: impl Iterator<Item = &'k [u8]>,
) -> crate::error::Result<Vec<Value>> {
    let asked = keys
        .flat_map(|key| [(key, sized_cmd(&[b"PTTL", key])), (key, sized_cmd(&[b"DUMP", key]))])
        .collect();
    owners.send(asked).await
}

/// A `PTTL` reply; -2 (no such key) for anything else.
fn ttl_of(reply: &Value) -> i64 {
    match reply {
        Value::Int(ttl) => *ttl,
        _ => -2,
    }
}

/// Counts one compared key, present on both sides; whether value or TTL differ.
fn compare(report: &mut VerifyReport, source: (i64, &Value), target: (i64, &Value), tolerance: i64) -> bool {
    report.compared += 1;
    let value_differs = source.1 != target.1;
    let ttl_differs = !match (source.0, target.0) {
        (-1, -1) => true,
        (a, b) if a >= 0 && b >= 0 => (a - b).abs() <= tolerance,
        _ => false,
    };
    report.value_differs += u64::from(value_differs);
    report.ttl_differs += u64::from(ttl_differs);
    value_differs || ttl_differs
}

/// Looks for every key, except those of slots `proven` to add up; compares every
/// `compare_every`-th key and every key in `always` (target names).
async fn per_key(
    source: &Store,
    target: &Store,
    options: &VerifyOptions,
    proven: Option<&Closed>,
    always: &HashSet<&str>,
) -> Result<VerifyReport, OpsError> {
    let translation = Translation::new(source.core().schema_arc(), target.core().schema_arc());
    let report = Mutex::new(empty_report(&translation));
    let owners = SlotOwners::of(&target.connection()).await?;
    let seen = std::sync::atomic::AtomicU64::new(0);
    let (report_ref, translation, owners, seen) = (&report, &translation, &owners, &seen);
    source
        .connection()
        .scan_primaries("*", options.scan_count.max(1), |node, keys| async move {
            let page = Page {
                owners,
                translation,
                node: &node,
                proven,
                always,
            };
            let checked = check_page(&page, &keys, options, report_ref, seen);
            telemetry::observe(source.core(), Op::keyless(op!("VERIFY")), checked).await?;
            Ok(ControlFlow::Continue(()))
        })
        .await?;
    let mut report = report.into_inner().unwrap_or_else(PoisonError::into_inner);
    report.patterns.retain(|p| p.source_keys > 0);
    Ok(report)
}

/// Where one page of source keys is checked.
struct Page<'a> {
    owners: &'a SlotOwners,
    translation: &'a Translation,
    /// The source node the keys came from.
    node: &'a Node,
    /// Target slots whose counts add up: their keys are not looked for.
    proven: Option<&'a Closed>,
    /// Keys compared whatever their position (target names).
    always: &'a HashSet<&'a str>,
}

/// What the source says of one key to check.
struct Expected<'k> {
    key: &'k [u8],
    to: String,
    pattern: Option<usize>,
    compare: bool,
    /// Not looked for: its slot's count adds up.
    proven: bool,
}

async fn check_page(
    page: &Page<'_>,
    keys: &[Vec<u8>],
    options: &VerifyOptions,
    report: &Mutex<VerifyReport>,
    seen: &std::sync::atomic::AtomicU64,
) -> crate::error::Result<()> {
    let mut expected = Vec::new();
    for key in keys {
        let (pattern, to) = match destination(page.translation, key) {
            Destination::Pattern { pattern, to } => (Some(pattern), to),
            Destination::Unmatched(_) if options.copy_unmatched => match std::str::from_utf8(key) {
                Ok(text) => (None, text.to_string()),
                Err(_) => continue,
            },
            _ => continue,
        };
        expected.push(Expected {
            key,
            proven: page.proven.is_some_and(|proven| proven.proves(&to)),
            to,
            pattern,
            compare: false,
        });
    }
    if expected.is_empty() {
        return Ok(());
    }
    // Positions in the whole pass, reserved for this page: every n-th key is compared, whatever
    // order the pages finish in.
    let first = seen.fetch_add(expected.len() as u64, std::sync::atomic::Ordering::Relaxed);
    if options.compare_every != u64::MAX {
        let every = options.compare_every.max(1);
        for (position, item) in (first..).zip(expected.iter_mut()) {
            item.compare = position % every == 0;
        }
    }
    for item in &mut expected {
        item.compare |= page.always.contains(item.to.as_str());
    }
    // The target first: one PTTL per key looked for (-2: missing), and the value of the keys
    // compared.
    let mut asked = Vec::with_capacity(expected.len() * 2);
    for item in expected.iter().filter(|item| item.compare || !item.proven) {
        let to = item.to.as_bytes();
        asked.push((to, sized_cmd(&[b"PTTL", to])));
        if item.compare {
            asked.push((to, sized_cmd(&[b"DUMP", to])));
        }
    }
    let mut target_replies = page.owners.send(asked).await?.into_iter();
    // Per key: its TTL on the target (`None`: not asked, proven there) and its value if compared.
    let on_target: Vec<(Option<i64>, Value)> = expected
        .iter()
        .map(|item| {
            if !item.compare && item.proven {
                return (None, Value::Nil);
            }
            let ttl = target_replies.next().as_ref().map_or(-2, ttl_of);
            let value = if item.compare {
                target_replies.next().unwrap_or(Value::Nil)
            } else {
                Value::Nil
            };
            (Some(ttl), value)
        })
        .collect();
    // Then the source, only where it is needed: the TTL and value of the keys compared, and
    // whether a key missing on the target is still on the source (gone from both is no loss).
    let mut read = page.node.pipe();
    let mut reads = 0;
    for (item, (ttl, _)) in expected.iter().zip(&on_target) {
        if item.compare {
            read.add_command(sized_cmd(&[b"PTTL", item.key]));
            read.add_command(sized_cmd(&[b"DUMP", item.key]));
            reads += 2;
        } else if *ttl == Some(-2) {
            read.add_command(sized_cmd(&[b"PTTL", item.key]));
            reads += 1;
        }
    }
    let mut source_replies = if reads > 0 {
        page.node.pipeline(read, reads).await?.into_iter()
    } else {
        Vec::new().into_iter()
    };

    let tolerance = i64::try_from(options.ttl_tolerance.as_millis()).unwrap_or(i64::MAX);
    let mut report = locked(report);
    for (item, (target_ttl, target_value)) in expected.iter().zip(on_target) {
        let source = if item.compare || target_ttl == Some(-2) {
            let ttl = source_replies.next().as_ref().map_or(-2, ttl_of);
            let value = if item.compare {
                source_replies.next().unwrap_or(Value::Nil)
            } else {
                Value::Nil
            };
            Some((ttl, value))
        } else {
            None
        };
        if matches!(source, Some((-2, _))) {
            continue; // Gone from the source since the scan.
        }
        report.checked += 1;
        report.counted += u64::from(target_ttl.is_none());
        if let Some(pattern) = item.pattern {
            report.patterns[pattern].source_keys += 1;
        }
        let problem = match (target_ttl, source) {
            (Some(-2), _) => {
                report.missing += 1;
                true
            }
            (target_ttl, source) => {
                if let Some(pattern) = item.pattern {
                    report.patterns[pattern].on_target += 1;
                }
                match (target_ttl, source) {
                    (Some(target_ttl), Some((source_ttl, source_value))) if item.compare => compare(
                        &mut report,
                        (source_ttl, &source_value),
                        (target_ttl, &target_value),
                        tolerance,
                    ),
                    _ => false,
                }
            }
        };
        if problem && report.examples.len() < options.examples {
            report.examples.push(String::from_utf8_lossy(item.key).into_owned());
        }
    }
    Ok(())
}
