//! `keyschema`: the command line over the keyschema library. Argument parsing and output only;
//! everything else is a library call.

mod audit;
mod diff;
mod html;
mod input;
mod lsp;
mod migrate;
mod output;

use clap::{Parser, Subcommand, ValueEnum};
use input::{read_schema, InputError, SchemaSource};
use keyschema::Schema;
use std::io::{self, BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Describe a Redis keyspace once; check it, lint keys against it, and print its inventory.
#[derive(Debug, Parser)]
#[command(name = "keyschema", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

/// How `keyschema acl` writes a user.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum AclFormat {
    Setuser,
    File,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a schema: syntax, names, hash tags, injectivity, ambiguous patterns, cluster hazards.
    /// Exit 0 when valid (warnings allowed), 1 on errors.
    Check {
        /// The schema file (default: the bundled Cordum schema).
        schema: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// What a change of schema does to a running keyspace: every change classified (SOURCE, DATA,
    /// CLUSTER, COORDINATION, LIFETIME, MATCHING) with a rule id, both positions, a witness key
    /// (old -> new, both slots), how long old keys live, and the remedy. Exit 1 when a finding of
    /// a `--fail-on` class is made (default: any)
    Diff {
        /// The old schema file (or give only NEW with `--against REV`).
        old: String,
        /// The new schema file.
        new: Option<String>,
        /// Read the old schema from this git revision, at NEW's path (`--against main`).
        #[arg(long, value_name = "REV")]
        against: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = diff::DiffFormat::Text)]
        format: diff::DiffFormat,
        /// Classes that fail the command (comma-separated).
        #[arg(long, value_name = "CLASS,...", value_parser = diff::parse_classes,
              default_value = "SOURCE,DATA,CLUSTER,COORDINATION,LIFETIME,MATCHING")]
        fail_on: std::vec::Vec<keyschema::ChangeClass>,
    },
    /// Print the checked model as JSON.
    Export {
        /// The schema file (default: the bundled Cordum schema); also as `--schema FILE`, as the
        /// other commands take it.
        #[arg(conflicts_with = "schema_flag")]
        schema: Option<String>,
        #[arg(long = "schema", id = "schema_flag", value_name = "SCHEMA", hide = true)]
        schema_flag: Option<String>,
    },
    /// Rewrite schema files in the canonical layout (aligned columns, comments kept); `--check`
    /// writes nothing and exits 1 when a file is not formatted.
    Fmt {
        /// The schema files.
        #[arg(required = true)]
        files: Vec<String>,
        /// Write nothing: list the files that are not formatted and exit 1 if there are any.
        #[arg(long)]
        check: bool,
    },
    /// Serve the language of schema files to an editor over stdio (Language Server Protocol):
    /// diagnostics as you type, hover facts, definitions, references, outline, completion,
    /// formatting.
    Lsp,
    /// Print the inventory as Markdown tables.
    Docs {
        /// The schema file (default: the bundled Cordum schema); also as `--schema FILE`, as the
        /// other commands take it.
        #[arg(conflicts_with = "schema_flag")]
        schema: Option<String>,
        #[arg(long = "schema", id = "schema_flag", value_name = "SCHEMA", hide = true)]
        schema_flag: Option<String>,
    },
    /// Generate the typed Rust store of a schema into a folder (what build.rs does with
    /// keyschema-codegen), or its key package for Go, TypeScript or Python (`--lang`).
    Gen {
        /// The schema file.
        schema: String,
        /// The folder to write `<schema>.rs` (or the package's files) into.
        #[arg(long)]
        out: String,
        /// The language: `rust` (the typed store), or a key package for `go`, `ts` or `python`
        /// (docs/languages.md).
        #[arg(long, default_value = "rust", value_parser = ["rust", "go", "ts", "typescript", "python", "py"])]
        lang: String,
        /// Write nothing: exit 1 when `<schema>.rs` in the folder is missing or differs from what
        /// the schema generates (committed generated code, checked in CI).
        #[arg(long)]
        check: bool,
        /// The previous layout of the schema: the store bridges from it while a layout change
        /// rolls out (docs/evolution.md); keys it cannot bridge are listed on stderr.
        #[arg(long)]
        previous: Option<String>,
    },
    /// Format a key: `keyschema key job_state jobID=0f8fad5b-d9cb-469f-a165-70867728950e`.
    Key {
        /// The schema file (default: the bundled Cordum schema).
        #[arg(long)]
        schema: Option<String>,
        /// The key's code name.
        name: String,
        /// Parameter values as `name=value`.
        params: Vec<String>,
    },
    /// Print the Redis glob (for `SCAN MATCH`) of a key with some parameters fixed:
    /// `keyschema glob report tenant=acme`. A glob narrows a scan; confirm each key it finds
    /// with `keyschema lint` before deleting it (`*` also crosses separators).
    Glob {
        /// The schema file (default: the bundled Cordum schema).
        #[arg(long)]
        schema: Option<String>,
        /// The key's code name.
        name: String,
        /// Fixed parameter values as `name=value`; the others match anything.
        params: Vec<String>,
    },
    /// Copy a keyspace from one layout to another: every source key matched against `--from`
    /// and restored on the target under the name `--to` gives the same key definition (DUMP +
    /// RESTORE with the remaining TTL), then verified. The source is only read. Resumable with
    /// `--checkpoint`. Exit 0 when done (and verified), 1 when the verification finds a key
    /// missing or different, 2 when it could not run.
    Migrate {
        /// The source's schema.
        #[arg(long)]
        from: String,
        /// The target's schema (key definitions paired with the source's by name).
        #[arg(long)]
        to: String,
        /// The source server, or any node of its cluster (a URL, or `host:port`).
        #[arg(long, value_parser = redis_url)]
        source: String,
        /// The target server, or any node of its cluster (a URL, or `host:port`).
        #[arg(long, value_parser = redis_url)]
        target: String,
        /// Print the plan (counts per pattern, keys no pattern takes) and copy nothing.
        #[arg(long)]
        dry_run: bool,
        /// Keep progress in this file and resume from it when it exists; a finished migration's
        /// checkpoint stays, saying so.
        #[arg(long)]
        checkpoint: Option<String>,
        /// Seconds between saves of the checkpoint (0: after every page). A resumed run copies
        /// again what was copied after the last save (it finds it there and compares it).
        #[arg(long, default_value_t = 1.0, value_parser = seconds)]
        checkpoint_every: f64,
        /// Copy keys that match no pattern under their own name (they are skipped otherwise).
        #[arg(long)]
        copy_unmatched: bool,
        /// Overwrite keys the target already holds (left as they are otherwise).
        #[arg(long)]
        replace: bool,
        /// The verification pass after the copy.
        #[arg(long, value_enum, default_value_t = migrate::Verify::Sample)]
        verify: migrate::Verify,
        /// Keys per SCAN page (and per pipeline).
        #[arg(long, default_value_t = 1000)]
        scan_count: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print Redis ACL rules per service from the schema's `service` blocks: the keys it reads
    /// (`%R~`), the keys it writes (`~`), the commands the store needs for them. Redis 7.0+.
    /// Set a password after loading (`ACL SETUSER <service> >secret`).
    Acl {
        /// The schema file (default: the bundled Cordum schema).
        #[arg(long)]
        schema: Option<String>,
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
        /// `setuser`: `ACL SETUSER` commands (for `redis-cli`); `file`: lines of an ACL file.
        #[arg(long, value_enum, default_value_t = AclFormat::Setuser)]
        format: AclFormat,
    },
    /// Print the cluster hash slot of keys, one `<slot>\t<key>` line each; `-` reads keys from stdin.
    Slot {
        /// Keys, or `-` for standard input.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Lint keys, one per line: which pattern, parameters, slot, type and TTL, or what is wrong.
    /// Exit 1 when any key has a problem.
    Lint {
        /// The schema file (default: the bundled Cordum schema).
        #[arg(long)]
        schema: Option<String>,
        /// A file of keys, one per line, or `-` for standard input (the default).
        file: Option<String>,
        /// Output format: readable text, or one JSON object per line.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Audit a live Redis or cluster against the schema: every key scanned (every primary of a
    /// cluster, in parallel), its type and TTL checked, keys matching no pattern grouped, index
    /// members checked for the keys they name. Read-only unless `--fix --apply`.
    /// Exit 0 when clean, 1 when a problem was found, 2 when the audit could not run.
    Audit {
        /// The schema file (default: the bundled Cordum schema).
        #[arg(long)]
        schema: Option<String>,
        /// The server, or any node of the cluster (`redis://127.0.0.1:6379`, or `host:port`
        /// for `redis://host:port`); a replica works too.
        #[arg(long, value_parser = redis_url)]
        url: String,
        /// Output format: a readable summary, the report as JSON (docs/json.md), or a
        /// self-contained HTML page with charts.
        #[arg(long, value_enum, default_value_t = audit::AuditFormat::Text)]
        format: audit::AuditFormat,
        /// Write the report to this file instead of standard output.
        #[arg(long)]
        out: Option<String>,
        /// Also read `MEMORY USAGE` of every key.
        #[arg(long)]
        memory: bool,
        /// Example keys kept per problem.
        #[arg(long, default_value_t = 5)]
        examples: usize,
        /// Audit about this many keys (whole pages on every primary) instead of all.
        #[arg(long)]
        sample: Option<u64>,
        /// Keys per SCAN page (and per pipeline of TYPE and PTTL).
        #[arg(long, default_value_t = 1000)]
        scan_count: usize,
        /// Keep the audit's position and counts in this file and resume from it when it exists
        /// (removed once the audit completes).
        #[arg(long)]
        checkpoint: Option<String>,
        /// Skip checking the members of index keys.
        #[arg(long)]
        no_indexes: bool,
        /// Print what fixing would change: a missing declared TTL set, dangling index members
        /// removed. A dry run unless `--apply`.
        #[arg(long)]
        fix: bool,
        /// With `--fix`: make the changes.
        #[arg(long, requires = "fix")]
        apply: bool,
        /// On a cluster, read everything from one replica of each shard (scan, types, TTLs and
        /// index members), leaving the primaries alone. Not with `--fix`.
        #[arg(long, conflicts_with = "fix")]
        replicas: bool,
        /// The schema before a layout change being rolled out: keys of its layout are counted per
        /// old pattern with their remaining TTLs (not as unknown), and new keys whose old twin
        /// still exists are counted.
        #[arg(long, value_name = "OLD_SCHEMA")]
        previous: Option<String>,
    },
}

/// What a command failed on.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{0}")]
    Schema(String),
    #[error(transparent)]
    Format(#[from] keyschema::FormatError),
    #[error("argument `{0}` is not `name=value`")]
    BadParam(String),
    #[error("{0}")]
    Usage(String),
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
    #[error("cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Codegen(#[from] keyschema_codegen::Error),
    #[error(transparent)]
    Redis(#[from] keyschema_store::Error),
    #[error(transparent)]
    Acl(#[from] keyschema_store::ops::AclError),
    #[error(transparent)]
    Ops(#[from] keyschema_store::ops::OpsError),
    #[error("cannot create {path}: {source}")]
    Create {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Lsp(#[from] lsp::LspError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
}

impl CliError {
    /// Whether the output's reader went away (directly, or under the JSON encoder).
    fn is_broken_pipe(&self) -> bool {
        match self {
            Self::Output(error) => error.kind() == io::ErrorKind::BrokenPipe,
            Self::Json(error) => error.io_error_kind() == Some(io::ErrorKind::BrokenPipe),
            _ => false,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        // A closed pipe (`keyschema lint | head`, `keyschema export | head`) ends the command
        // quietly, as Unix tools do.
        Err(error) if error.is_broken_pipe() => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(io::stderr(), "error: {error}");
            ExitCode::from(2)
        }
    }
}

fn load(path: Option<&str>) -> Result<(Schema, SchemaSource), CliError> {
    let source = read_schema(path)?;
    let schema = Schema::parse(&source.text, &source.name).map_err(|error| CliError::Schema(error.to_string()))?;
    Ok((schema, source))
}

fn run(command: Command) -> Result<ExitCode, CliError> {
    if let Command::Lsp = command {
        // The transport writes stdout from its own thread: stdout must not be locked here.
        lsp::serve()?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Audit {
        schema,
        url,
        format,
        out,
        memory,
        examples,
        sample,
        scan_count,
        checkpoint,
        no_indexes,
        fix,
        apply,
        replicas,
        previous,
    } = command
    {
        let previous = match previous {
            Some(path) => Some(std::sync::Arc::new(load(Some(&path))?.0)),
            None => None,
        };
        return audit::run(audit::AuditArgs {
            schema: schema.as_deref(),
            url: &url,
            format,
            out: out.as_deref(),
            options: keyschema_store::ops::AuditOptions {
                scan_count,
                memory,
                examples,
                sample,
                indexes: !no_indexes,
                fix: apply,
                replicas,
                checkpoint: checkpoint.map(Into::into),
                previous,
                ..Default::default()
            },
            fix,
        });
    }
    if let Command::Migrate {
        from,
        to,
        source,
        target,
        dry_run,
        checkpoint,
        checkpoint_every,
        copy_unmatched,
        replace,
        verify,
        scan_count,
        format,
    } = command
    {
        return migrate::run(migrate::MigrateArgs {
            from: &from,
            to: &to,
            source: &source,
            target: &target,
            verify,
            format,
            options: keyschema_store::ops::MigrateOptions {
                scan_count,
                dry_run,
                copy_unmatched,
                replace,
                checkpoint: checkpoint.map(Into::into),
                checkpoint_every: Duration::from_secs_f64(checkpoint_every),
                ..Default::default()
            },
        });
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let code = match command {
        Command::Check { schema, format } => {
            let source = read_schema(schema.as_deref())?;
            let diagnostics = Schema::check(&source.text);
            match format {
                Format::Text => output::write_check_text(&mut out, &diagnostics, &source)?,
                Format::Json => output::write_check_json(&mut out, &diagnostics, &source)?,
            }
            if diagnostics.iter().any(keyschema::Diagnostic::is_error) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Diff {
            old,
            new,
            against,
            format,
            fail_on,
        } => {
            // `diff NEW --against REV` names one file: it is the new one.
            let (old, new) = match (new, &against) {
                (Some(new), _) => (Some(old), new),
                (None, Some(_)) => (None, old),
                (None, None) => return Err(CliError::Schema("give OLD and NEW, or NEW with `--against REV`".into())),
            };
            diff::run(
                &diff::DiffArgs {
                    old: old.as_deref(),
                    new: &new,
                    against: against.as_deref(),
                    format,
                    fail_on,
                },
                &mut out,
            )?
        }
        Command::Export { schema, schema_flag } => {
            let (schema, _) = load(schema.or(schema_flag).as_deref())?;
            serde_json::to_writer_pretty(&mut out, schema.model())?;
            writeln!(out)?;
            ExitCode::SUCCESS
        }
        Command::Fmt { files, check } => {
            let mut unformatted = Vec::new();
            for file in &files {
                let source = std::fs::read_to_string(file).map_err(|source| CliError::Read {
                    path: file.clone(),
                    source,
                })?;
                let formatted =
                    keyschema::format_schema(&source, file).map_err(|error| CliError::Schema(error.to_string()))?;
                if formatted == source {
                    continue;
                }
                if check {
                    unformatted.push(file);
                } else {
                    std::fs::write(file, &formatted).map_err(|source| CliError::Write {
                        path: file.clone(),
                        source,
                    })?;
                    writeln!(out, "formatted {file}")?;
                }
            }
            for file in &unformatted {
                eprintln!("{file} is not formatted: run `keyschema fmt {file}`");
            }
            if unformatted.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        // Served before stdout is locked (the transport writes it from its own thread).
        Command::Lsp => unreachable!("handled at the start of run"),
        Command::Docs { schema, schema_flag } => {
            let (schema, _) = load(schema.or(schema_flag).as_deref())?;
            out.write_all(schema.docs().as_bytes())?;
            ExitCode::SUCCESS
        }
        Command::Gen {
            schema,
            out: folder,
            check,
            lang,
            previous,
        } if lang != "rust" => {
            if previous.is_some() {
                return Err(CliError::Usage(
                    "--previous bridges layouts in the Rust store only; leave it out with --lang".into(),
                ));
            }
            let lang = keyschema_codegen::Lang::from_name(&lang)
                .ok_or_else(|| CliError::Usage(format!("unknown language `{lang}`")))?;
            let (schema, folder) = (Path::new(&schema), Path::new(&folder));
            if !check {
                for path in keyschema_codegen::write_package(lang, schema, folder)? {
                    writeln!(out, "wrote {}", path.display())?;
                }
                return Ok(ExitCode::SUCCESS);
            }
            let stale = keyschema_codegen::check_package(lang, schema, folder)?;
            for path in &stale {
                eprintln!(
                    "{} is not what {} generates: run `keyschema gen {} --lang ... --out {}` and commit it",
                    path.display(),
                    schema.display(),
                    schema.display(),
                    folder.display()
                );
            }
            if stale.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Gen {
            schema,
            out: folder,
            check: false,
            previous,
            ..
        } => {
            let config = generation(&folder, previous.as_deref());
            for line in config.not_bridged(&schema)? {
                eprintln!("warning: {line}");
            }
            for path in config.compile(&[&schema])? {
                writeln!(out, "wrote {}", path.display())?;
            }
            ExitCode::SUCCESS
        }
        Command::Gen {
            schema,
            out: folder,
            check: true,
            previous,
            ..
        } => {
            let stale = generation(&folder, previous.as_deref()).check(&[&schema])?;
            for file in &stale {
                eprintln!(
                    "{} is not what {schema} generates ({}): run `keyschema gen {schema} --out {folder}` and commit it",
                    file.path.display(),
                    file.difference
                );
            }
            if stale.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Key { schema, name, params } => {
            let (schema, _) = load(schema.as_deref())?;
            writeln!(out, "{}", schema.format_key(&name, &name_values(&params)?)?)?;
            ExitCode::SUCCESS
        }
        Command::Glob { schema, name, params } => {
            let (schema, _) = load(schema.as_deref())?;
            writeln!(out, "{}", schema.glob(&name, &name_values(&params)?)?.glob)?;
            ExitCode::SUCCESS
        }
        Command::Acl {
            schema,
            service,
            format,
        } => {
            let (schema, _) = load(schema.as_deref())?;
            for user in keyschema_store::ops::acl_users(schema.model(), service.as_deref())? {
                if let Some(purpose) = &user.purpose {
                    writeln!(out, "# {}: {}", user.name, output::printable(purpose))?;
                }
                match format {
                    AclFormat::Setuser => writeln!(out, "ACL SETUSER {} {}", user.name, user.rules())?,
                    AclFormat::File => writeln!(out, "user {} {}", user.name, user.rules())?,
                }
            }
            ExitCode::SUCCESS
        }
        Command::Slot { keys } => {
            if keys == ["-"] {
                for line in input::key_lines(io::stdin().lock()) {
                    let line = line?;
                    writeln!(
                        out,
                        "{}\t{}",
                        keyschema::key_slot(&line.bytes),
                        String::from_utf8_lossy(&line.bytes)
                    )?;
                }
            } else {
                for key in &keys {
                    writeln!(out, "{}\t{key}", keyschema::key_slot(key.as_bytes()))?;
                }
            }
            ExitCode::SUCCESS
        }
        Command::Audit { .. } | Command::Migrate { .. } => unreachable!("handled above"),
        Command::Lint { schema, file, format } => {
            let (schema, _) = load(schema.as_deref())?;
            let reader: Box<dyn BufRead> = match file.as_deref() {
                None | Some("-") => Box::new(io::stdin().lock()),
                Some(path) => Box::new(input::open(path)?),
            };
            let color = format == Format::Text && output::use_color();
            let mut any_problem = false;
            for line in input::key_lines(reader) {
                let result = input::lint_line(&schema, &line?);
                any_problem |= result.has_problems();
                match format {
                    Format::Json => {
                        serde_json::to_writer(&mut out, &result)?;
                        writeln!(out)?;
                    }
                    Format::Text => output::write_lint_text(&mut out, &result, color)?,
                }
            }
            if any_problem {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    };
    out.flush()?;
    Ok(code)
}

/// `name=value` arguments as pairs.
/// A server's address as given: a URL (`redis://`, `rediss://`, `unix://`...), or `host:port`,
/// read as `redis://host:port` (what `redis-cli -h host -p port` reaches).
/// A number of seconds, zero or more.
fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && (0.0..=86_400.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!("`{text}` is not a number of seconds from 0 to 86400")),
    }
}

fn redis_url(text: &str) -> Result<String, String> {
    if text.contains("://") {
        return Ok(text.to_string());
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(format!("redis://{text}")),
        _ => Err(format!(
            "`{text}` is not a Redis address: give a URL (`redis://host:6379`, `rediss://...`) or `host:port`"
        )),
    }
}

fn name_values(params: &[String]) -> Result<Vec<(&str, &str)>, CliError> {
    params
        .iter()
        .map(|p| p.split_once('=').ok_or_else(|| CliError::BadParam(p.clone())))
        .collect()
}

/// The generation settings of `keyschema gen`: into `folder`, bridged from `previous` if given.
fn generation(folder: &str, previous: Option<&str>) -> keyschema_codegen::Config {
    let mut config = keyschema_codegen::Config::new();
    config.out_dir(folder);
    if let Some(previous) = previous {
        config.previous(previous);
    }
    config
}
