//! `keyschema migrate`: the plan (a dry run), the copy (checkpointed, resumable) and the
//! verification pass, over the library's engine; progress on standard error on a terminal.

use crate::{load, output, CliError, Format};
use clap::ValueEnum;
use keyschema_store::ops::{self, MigrateOptions, MigrationReport, VerifyOptions, VerifyReport};
use keyschema_store::{ConnectionOptions, Store};
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

/// How much the verification pass compares.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Verify {
    /// No verification.
    None,
    /// Value and TTL compared on one key in 100; every key accounted for by the key count of
    /// its target slot, and looked for on the target where that count does not add up.
    Sample,
    /// As `sample`, but every key looked for on the target.
    Keys,
    /// Every key looked for, every value and TTL compared.
    All,
}

/// What `keyschema migrate` was asked.
pub struct MigrateArgs<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub source: &'a str,
    pub target: &'a str,
    pub verify: Verify,
    pub format: Format,
    pub options: MigrateOptions,
}

/// Runs the migration (or its plan); exit 0 when done and verified, 1 when the verification
/// found a key missing or different (2 comes from the caller on an error).
pub fn run(mut args: MigrateArgs<'_>) -> Result<ExitCode, CliError> {
    let (from, _) = load(Some(args.from))?;
    let (to, _) = load(Some(args.to))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let terminal = io::stderr().is_terminal();
    let (report, verified) = runtime.block_on(async {
        let options = ConnectionOptions::default();
        let source = Store::new(ops::connect(args.source, &options).await?, from.model_arc())?;
        let target = Store::new(ops::connect(args.target, &options).await?, to.model_arc())?;
        if terminal {
            args.options.progress = Some(Arc::new(|keys| eprint!("\r\x1b[Kcopied or skipped {keys} keys")));
        }
        let (report, verified) = match (args.verify, args.options.dry_run) {
            (Verify::None, _) | (_, true) => (ops::migrate(&source, &target, &args.options).await?, None),
            (verify, false) => {
                let options = VerifyOptions {
                    compare_every: if verify == Verify::All { 1 } else { 100 },
                    copy_unmatched: args.options.copy_unmatched,
                    count_slots: verify == Verify::Sample,
                    ..VerifyOptions::default()
                };
                let (report, verified) = ops::migrate_verified(&source, &target, &args.options, &options).await?;
                (report, Some(verified))
            }
        };
        if terminal {
            eprint!("\r\x1b[K");
        }
        Ok::<_, CliError>((report, verified))
    })?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match args.format {
        Format::Text => {
            output::write_migration_text(&mut out, &report, args.source, args.target)?;
            if let Some(verified) = &verified {
                output::write_verify_text(&mut out, verified)?;
            }
        }
        Format::Json => {
            serde_json::to_writer_pretty(
                &mut out,
                &MigrateJson {
                    migration: &report,
                    verification: verified.as_ref(),
                },
            )?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(match verified {
        Some(verified) if verified.problem_count() > 0 => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    })
}

/// `--format json`: the migration and, when run, its verification.
#[derive(serde::Serialize)]
struct MigrateJson<'r> {
    migration: &'r MigrationReport,
    verification: Option<&'r VerifyReport>,
}
