//! `keyschema audit`: connects (to a cluster when the server is a node of one), audits, and
//! writes the report as text, JSON or HTML; progress on standard error when it is a terminal.

use crate::{html, load, output, CliError};
use clap::ValueEnum;
use keyschema_store::ops::{self, AuditOptions, AuditReport};
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the report is written.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum AuditFormat {
    /// A readable summary.
    Text,
    /// The report as JSON (docs/json.md).
    Json,
    /// A self-contained page with charts (no network needed to view it).
    Html,
}

/// What `keyschema audit` was asked.
pub struct AuditArgs<'a> {
    pub schema: Option<&'a str>,
    pub url: &'a str,
    pub format: AuditFormat,
    pub out: Option<&'a str>,
    pub options: AuditOptions,
    /// `--fix`: say what fixing would change (dry run) or, with `apply`, change it.
    pub fix: bool,
}

/// Runs the audit; exit 0 when clean, 1 when a problem was found (2 comes from the caller
/// when this returns an error).
pub fn run(mut args: AuditArgs<'_>) -> Result<ExitCode, CliError> {
    let (schema, source) = load(args.schema)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let report = runtime.block_on(async {
        // Reading replicas: the index members too (redis-rs sends a cluster's reads to them).
        let connection_options =
            keyschema_store::ConnectionOptions::default().read_from_replicas(args.options.replicas);
        let connection = keyschema_store::ops::connect(args.url, &connection_options).await?;
        let store = keyschema_store::Store::new(connection, schema.model_arc())?;
        args.options.notice = Some(notice_on_stderr());
        if io::stderr().is_terminal() {
            let total = ops::key_count(&store).await?;
            args.options.progress = Some(progress_on_stderr(total, args.options.sample));
        }
        Ok::<_, CliError>(ops::audit(&store, &args.options).await?)
    })?;
    if args.options.progress.is_some() {
        eprint!("\r\x1b[K");
    }
    let mut writer: Box<dyn Write> = match args.out {
        Some(path) => Box::new(io::BufWriter::new(std::fs::File::create(path).map_err(|source| {
            CliError::Create {
                path: path.to_string(),
                source,
            }
        })?)),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    };
    match args.format {
        AuditFormat::Text => {
            output::write_audit_text(&mut writer, &report, args.url, &source.name)?;
            if args.fix {
                output::write_fix_plan(&mut writer, &report)?;
            }
        }
        AuditFormat::Json => {
            let mut json = serde_json::to_value(&report)?;
            if args.fix {
                // The plan rides along, as the text output prints it (docs/json.md).
                json["fix_plan"] = serde_json::to_value(report.fix_plan())?;
            }
            serde_json::to_writer_pretty(&mut writer, &json)?;
            writeln!(writer)?;
        }
        AuditFormat::Html => html::write_audit(&mut writer, &report, args.url, &source.name)?,
    }
    writer.flush()?;
    Ok(exit_code(&report))
}

/// 1 when the audit found a problem (fixed or not: a second audit confirms a fix), 0 when the
/// keyspace is clean.
fn exit_code(report: &AuditReport) -> ExitCode {
    if report.problem_count() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints `keys audited, keys/s, ETA` on standard error, at most five times a second.
/// What the audit waits for, on standard error, each message once.
fn notice_on_stderr() -> keyschema_store::ops::Notice {
    let last: Mutex<String> = Mutex::new(String::new());
    Arc::new(move |notice: &str| {
        let mut last = last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if *last != notice {
            eprintln!("{notice}");
            notice.clone_into(&mut last);
        }
    })
}

fn progress_on_stderr(total: u64, sample: Option<u64>) -> keyschema_store::ops::Progress {
    let total = sample.map_or(total, |sample| sample.min(total)).max(1);
    let started = Instant::now();
    let last = Mutex::new(Instant::now() - Duration::from_secs(1));
    Arc::new(move |seen| {
        let mut last = last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.elapsed() < Duration::from_millis(200) {
            return;
        }
        *last = Instant::now();
        let elapsed = started.elapsed().as_secs_f64().max(1e-3);
        let rate = seen as f64 / elapsed;
        let left = total.saturating_sub(seen) as f64 / rate.max(1.0);
        eprint!(
            "\r\x1b[Kaudited {seen} of ~{total} keys ({:.0}%), {:.0} keys/s, ETA {:.0} s",
            100.0 * seen.min(total) as f64 / total as f64,
            rate,
            left
        );
    })
}
