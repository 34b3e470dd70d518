//! `keyschema diff OLD NEW`: what a change of schema does to the keys already in Redis, to
//! cluster slots and to a fleet running both versions (the engine is `keyschema::diff`).

use crate::input::{read_schema, SchemaSource};
use crate::CliError;
use keyschema::{ChangeClass, DiffSide, Schema};
use std::io::Write;
use std::process::{Command, ExitCode};

/// How `diff` writes its findings.
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum DiffFormat {
    /// One paragraph per finding, then a count per class.
    Text,
    /// The versioned report (docs/json.md).
    Json,
    /// GitHub Actions annotations on the changed lines.
    Github,
}

/// What `keyschema diff` was asked.
pub struct DiffArgs<'a> {
    /// The old schema file (`None`: read NEW from `against`).
    pub old: Option<&'a str>,
    /// The new schema file.
    pub new: &'a str,
    /// A git revision to read the old schema from, at NEW's path.
    pub against: Option<&'a str>,
    pub format: DiffFormat,
    /// Exit 1 when a finding of these classes is made.
    pub fail_on: Vec<ChangeClass>,
}

pub fn run(args: &DiffArgs<'_>, out: &mut impl Write) -> Result<ExitCode, CliError> {
    let new = read_schema(Some(args.new))?;
    let old = match (args.old, args.against) {
        (Some(path), _) => read_schema(Some(path))?,
        (None, Some(revision)) => from_git(revision, args.new)?,
        (None, None) => return Err(CliError::Schema("give OLD and NEW, or NEW with `--against REV`".into())),
    };
    let parse = |source: &SchemaSource| {
        Schema::parse(&source.text, &source.name).map_err(|error| CliError::Schema(error.to_string()))
    };
    let (old_schema, new_schema) = (parse(&old)?, parse(&new)?);
    let report = keyschema::diff(
        &DiffSide {
            schema: &old_schema,
            source: &old.text,
            file: &old.name,
        },
        &DiffSide {
            schema: &new_schema,
            source: &new.text,
            file: &new.name,
        },
    );
    match args.format {
        DiffFormat::Text => out.write_all(report.to_text().as_bytes())?,
        DiffFormat::Github => out.write_all(report.to_github().as_bytes())?,
        DiffFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &report)?;
            writeln!(out)?;
        }
    }
    Ok(if report.has_any(&args.fail_on) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The schema at `path` as of git revision `revision` (`git show REV:./PATH`, so the path is
/// relative to the current folder, as given).
fn from_git(revision: &str, path: &str) -> Result<SchemaSource, CliError> {
    let spec = format!("{revision}:./{}", path.trim_start_matches("./"));
    let output = Command::new("git")
        .args(["show", &spec])
        .output()
        .map_err(|source| CliError::Create {
            path: format!("git show {spec}"),
            source,
        })?;
    if !output.status.success() {
        return Err(CliError::Schema(format!(
            "cannot read {spec} from git: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let text = String::from_utf8(output.stdout).map_err(|_| CliError::Schema(format!("{spec} is not UTF-8")))?;
    Ok(SchemaSource {
        name: format!("{path}@{revision}"),
        text,
    })
}

/// `--fail-on DATA,CLUSTER`: class names, any case.
pub fn parse_classes(text: &str) -> Result<Vec<ChangeClass>, String> {
    text.split(',')
        .filter(|name| !name.trim().is_empty())
        .map(|name| {
            ChangeClass::from_name(name.trim()).ok_or_else(|| {
                format!("`{name}` is not a class (SOURCE, DATA, CLUSTER, COORDINATION, LIFETIME, MATCHING)")
            })
        })
        .collect()
}
