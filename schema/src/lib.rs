//! # keyschema
//!
//! A declarative schema for a Redis keyspace, and what follows from it: a checked model, an
//! injective key codec, a matcher that tells which pattern a key belongs to, Redis Cluster hash
//! slots, and the inventory as Markdown.
//!
//! This crate is pure: no IO, no async, no Redis. It takes `&str` and returns values and
//! serialisable diagnostics, so it builds unchanged for `wasm32-unknown-unknown`.
//!
//! ```
//! use keyschema::Schema;
//!
//! let source = r#"
//! keyspace demo
//! param jobID uuid
//! ttl job = env(JOB_TTL_SECONDS, 7d)
//! job:state:<jobID> string json(JobState) ttl job "Job state"
//! "#;
//! let schema = Schema::parse(source, "demo.keys").unwrap();
//! let result = schema.lint("job:state:0f8fad5b-d9cb-469f-a165-70867728950e");
//! assert_eq!(result.name.as_deref(), Some("job_state"));
//! assert_eq!(result.ttl_seconds, Some(7 * 86400));
//! ```

mod check;
pub mod codec;
pub mod diagnostics;
mod docs;
mod fingerprint;
mod glob;
mod lint;
mod lower;
mod matcher;
pub mod model;
mod slot;
pub mod syntax;
mod translate;
mod util;
mod values;

pub use codec::{FormatError, ParamValue, ValueError};
pub use diagnostics::{
    positioned, render, Code, ColumnUnit, Diagnostic, LineIndex, Position, PositionedDiagnostic, Severity, Span,
};
pub use docs::inventory_markdown;
pub use fingerprint::{fingerprint, model_fingerprint};
pub use glob::{Glob, Selection};
pub use lint::{
    InputTooLarge, KeyFacts, LintProblem, LintResult, LintTable, LintValue, ParamsObject, LINT_CODES, MAX_KEY_LEN,
};
pub use matcher::{KeyMatch, MatchFailure, Matcher, MAX_SEGMENTS};
pub use model::*;
pub use slot::{crc16, hash_tag, key_slot, slot_tag, SLOT_COUNT};
pub use translate::{Translation, Untranslated};
pub use values::DecodedValues;

use std::sync::Arc;

/// The version of this crate. Generated code records the version that generated it, and the
/// runtime compares it at connect.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The largest schema source accepted, in bytes.
pub const MAX_SOURCE_LEN: usize = 4 * 1024 * 1024;

/// The example schemas shipped with keyschema, by file name.
pub mod examples {
    /// `cordum.keys`: the reference keyspace (section 2 of the Cordum Redis operations guide).
    pub const CORDUM: &str = include_str!("../examples/cordum.keys");
    /// `cordum-cluster.keys`: the same keyspace with hash tags, one slot group per job and per run.
    pub const CORDUM_CLUSTER: &str = include_str!("../examples/cordum-cluster.keys");
    /// `catalog.keys`: an asset catalog with set indexes, a time index and a lineage graph.
    pub const CATALOG: &str = include_str!("../examples/catalog.keys");
    /// `state.keys`: a stateful consumer's context backed up to Redis, LZ4-compressed, with a TTL
    /// chosen per write, and a value in a codec of the service's own.
    pub const STATE: &str = include_str!("../examples/state.keys");
    /// `opensensor.keys`: an API's function results cached in Redis, shared by its replicas.
    pub const OPENSENSOR: &str = include_str!("../examples/opensensor.keys");
}

/// A schema that failed to check: its diagnostics, errors and warnings, in source order.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file_name}: {} error(s) in schema\n{rendered}", self.error_count())]
pub struct SchemaError {
    /// The schema's file name as given.
    pub file_name: String,
    /// Every diagnostic, errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// The diagnostics rendered with source excerpts.
    pub rendered: String,
}

impl SchemaError {
    /// How many diagnostics are errors.
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}

/// A parsed, checked schema with its compiled matcher.
#[derive(Debug)]
pub struct Schema {
    model: Arc<KeySchema>,
    /// Compiled when first needed: a schema loaded from a checked model (a service's start-up)
    /// may only format keys, which needs no matcher.
    matcher: std::sync::OnceLock<Matcher>,
    ambiguities: Vec<(usize, usize)>,
    warnings: Vec<Diagnostic>,
    file_name: String,
}

/// The result of checking a source: the model when there is no error, and every diagnostic.
struct Analysis {
    model: Option<Checked>,
    diagnostics: Vec<Diagnostic>,
}

/// A model without errors, its matcher, and the pairs of keys the checker found ambiguous.
struct Checked {
    model: Arc<KeySchema>,
    matcher: Matcher,
    ambiguities: Vec<(usize, usize)>,
}

fn analyze(source: &str) -> Analysis {
    if source.len() > MAX_SOURCE_LEN {
        let diagnostic = Diagnostic::new(
            Code::SourceTooLarge,
            Span::new(0, 0),
            format!(
                "schema is {} bytes, more than the {MAX_SOURCE_LEN} accepted",
                source.len()
            ),
        )
        .with_hint("split the keyspace into several schemas");
        return Analysis {
            model: None,
            diagnostics: vec![diagnostic],
        };
    }
    let (file, mut diagnostics) = syntax::parse(source);
    let lowered = lower::lower(&file, &mut diagnostics);
    let model = Arc::new(lowered.schema);
    let mut matcher = Matcher::new(Arc::clone(&model));
    let pairs = check::check(
        &model,
        &lowered.key_spans,
        &lowered.param_spans,
        &matcher,
        &mut diagnostics,
    );
    matcher.set_ambiguities(&pairs);
    diagnostics.sort_by_key(|d| (d.span.start, d.severity));
    let diagnostics = cap_repeats(diagnostics, source);
    let has_errors = diagnostics.iter().any(Diagnostic::is_error);
    Analysis {
        model: (!has_errors).then_some(Checked {
            model,
            matcher,
            ambiguities: pairs,
        }),
        diagnostics,
    }
}

/// How many diagnostics of one code one declaration (one line) reports before a summary.
const MAX_REPEATS: usize = 20;

/// Keeps the first [`MAX_REPEATS`] diagnostics of each code on each line and replaces the rest
/// with one summary, so a hostile line cannot multiply the output (or its memory).
fn cap_repeats(diagnostics: Vec<Diagnostic>, source: &str) -> Vec<Diagnostic> {
    let newlines: Vec<usize> = source
        .bytes()
        .enumerate()
        .filter(|&(_, b)| b == b'\n')
        .map(|(i, _)| i)
        .collect();
    let line_of = |d: &Diagnostic| newlines.partition_point(|&at| at < d.span.start as usize);
    let mut counts: std::collections::HashMap<(&'static str, usize), usize> = std::collections::HashMap::new();
    let mut kept: Vec<Diagnostic> = Vec::with_capacity(diagnostics.len().min(1024));
    let mut summaries: Vec<(usize, (&'static str, usize))> = Vec::new();
    for diagnostic in diagnostics {
        let group = (diagnostic.code.as_str(), line_of(&diagnostic));
        let count = counts.entry(group).or_insert(0);
        *count += 1;
        if *count <= MAX_REPEATS {
            kept.push(diagnostic);
        } else if *count == MAX_REPEATS + 1 {
            summaries.push((kept.len(), group));
            kept.push(diagnostic);
        }
    }
    for (at, group) in summaries.into_iter().rev() {
        let more = counts[&group] - MAX_REPEATS;
        let first = &kept[at];
        let summary = Diagnostic::new(
            first.code,
            first.span,
            format!("… and {more} more {} diagnostic(s) on this line", first.code.as_str()),
        )
        .with_hint("fix the ones above first; the rest are likely the same mistake");
        kept[at] = Diagnostic {
            severity: first.severity,
            ..summary
        };
    }
    kept
}

impl Schema {
    /// Parses and checks `source`; `file_name` is only used in messages.
    ///
    /// Errors carry every diagnostic (errors and warnings); on success the warnings are kept in
    /// [`Schema::warnings`].
    pub fn parse(source: &str, file_name: &str) -> Result<Self, SchemaError> {
        let analysis = analyze(source);
        match analysis.model {
            Some(Checked {
                model,
                matcher,
                ambiguities,
            }) => Ok(Self {
                model,
                matcher: matcher.into(),
                ambiguities,
                warnings: analysis.diagnostics,
                file_name: file_name.to_string(),
            }),
            None => Err(SchemaError {
                file_name: file_name.to_string(),
                rendered: render(&analysis.diagnostics, source, file_name),
                diagnostics: analysis.diagnostics,
            }),
        }
    }

    /// A schema from a model that was checked before, with the pairs of keys the checker found
    /// ambiguous ([`Schema::ambiguities`]): what generated code embeds, so a service's start-up
    /// does no parsing and no checking (the matcher is compiled when a key is first parsed). The caller vouches that the
    /// model came from [`Schema::parse`]; nothing here checks it again.
    pub fn from_checked_model(model: KeySchema, ambiguities: Vec<(usize, usize)>, file_name: &str) -> Self {
        Self {
            model: Arc::new(model),
            matcher: std::sync::OnceLock::new(),
            ambiguities,
            warnings: Vec::new(),
            file_name: file_name.to_string(),
        }
    }

    /// The pairs of keys (by index in [`KeySchema::keys`]) whose patterns can match one key.
    pub fn ambiguities(&self) -> &[(usize, usize)] {
        &self.ambiguities
    }

    /// Every diagnostic of `source`, errors and warnings, without building a schema.
    pub fn check(source: &str) -> Vec<Diagnostic> {
        analyze(source).diagnostics
    }

    /// The model.
    pub fn model(&self) -> &KeySchema {
        &self.model
    }

    /// The model, shared.
    pub fn model_arc(&self) -> Arc<KeySchema> {
        Arc::clone(&self.model)
    }

    /// The compiled matcher (compiled on first use for a schema from a checked model).
    pub fn matcher(&self) -> &Matcher {
        self.matcher.get_or_init(|| {
            let mut matcher = Matcher::new(Arc::clone(&self.model));
            matcher.set_ambiguities(&self.ambiguities);
            matcher
        })
    }

    /// The warnings found when checking.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The file name given to [`Schema::parse`].
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// Everything the schema says about `key`.
    pub fn lint(&self, key: &str) -> LintResult {
        lint::lint(&self.model, self.matcher(), key)
    }

    /// Lints raw bytes: keys longer than [`MAX_KEY_LEN`] or not UTF-8 get a problem (`K004`,
    /// `K005`) instead of a match.
    pub fn lint_bytes(&self, key: &[u8]) -> LintResult {
        lint::lint_bytes(&self.model, self.matcher(), key)
    }

    /// The inventory as Markdown.
    pub fn docs(&self) -> String {
        inventory_markdown(&self.model, &self.file_name)
    }

    /// The Redis glob of the key named `name` with some parameters fixed (`tenant=acme`), for
    /// `SCAN MATCH`; see [`Glob`] for why a scan by glob still checks each key.
    pub fn glob(&self, name: &str, values: &[(&str, &str)]) -> Result<Glob, FormatError> {
        self.model.glob_from_text(name, values)
    }

    /// Formats the key named `name` from values as a person writes them.
    pub fn format_key(&self, name: &str, values: &[(&str, &str)]) -> Result<String, FormatError> {
        self.model.format_key_from_text(name, values)
    }
}
