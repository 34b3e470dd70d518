//! # keyschema-codegen
//!
//! Generates a typed Rust store from a keyschema schema, for build scripts, as prost-build does
//! for `.proto` files. One line in `build.rs`:
//!
//! ```no_run
//! keyschema_codegen::compile(&["schema/cordum.keys"]).unwrap();
//! ```
//!
//! and in the crate, inside a module (JSON value types are looked up in the parent module unless
//! mapped with [`Config::type_path`]):
//!
//! ```ignore
//! mod cordum {
//!     include!(concat!(env!("OUT_DIR"), "/cordum.rs"));
//! }
//! let store = cordum::CordumStore::connect("redis://127.0.0.1/").await?;
//! store.job_state(job_id).set(&state).await?;   // SET job:state:<jobID> ... PX 604800000
//! ```
//!
//! The generated module holds the checked model (`GENERATED`: built from constructors at
//! connect, without parsing or checking the schema again, and refused with a clear error if the
//! runtime is another keyschema version), one type per key that formats and parses itself (`JobStateKey`), enums
//! for enum parameters, a struct per hash with declared fields, and the store with one accessor
//! per key. Behaviour lives in `keyschema-store`.

mod generate;
mod lang;
mod model_literal;
mod names;

pub use lang::{check_package, package, write_package, Lang, PackageFile};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Why generation failed. `Debug` prints what `Display` does, so a build script's
/// `compile(...).unwrap()` shows the rendered diagnostics (file:line:col, caret, hint).
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A schema file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The generated file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The schema has errors (rendered with positions).
    #[error(transparent)]
    Schema(#[from] keyschema::SchemaError),
    /// No output folder: not run from a build script and none given.
    #[error("OUT_DIR is not set: call this from build.rs, or give a folder with Config::out_dir")]
    NoOutDir,
    /// The generated code did not parse (a bug of the generator).
    #[error("the generated code for {schema} does not parse: {message}")]
    Generated {
        /// The schema.
        schema: String,
        /// The parser's message.
        message: String,
    },
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Generation settings, set with chained calls.
#[derive(Debug, Clone, Default)]
pub struct Config {
    out_dir: Option<PathBuf>,
    type_paths: HashMap<String, String>,
    type_attributes: Vec<(String, String)>,
    store_name: Option<String>,
    previous: Option<PathBuf>,
    format: bool,
    quiet: bool,
}

impl Config {
    /// Default settings: output to `OUT_DIR`, formatted.
    pub fn new() -> Self {
        Self {
            format: true,
            ..Self::default()
        }
    }

    /// Writes to `dir` instead of `OUT_DIR`.
    pub fn out_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Binds a value type or codec named in the schema (`json(JobState)`, `codec(StateCodec)`)
    /// to a Rust path (`crate::model::JobState`). Unbound names resolve in the including
    /// module's parent (`super::JobState`); names that are already paths stay as written.
    pub fn type_path(&mut self, name: impl AsRef<str>, path: impl AsRef<str>) -> &mut Self {
        self.type_paths
            .insert(name.as_ref().to_string(), path.as_ref().to_string());
        self
    }

    /// Adds `attribute` to the generated type named `name` (its Rust name: the parameter enum
    /// `State`, the key type `JobStateKey`, the record `JobRecord`, the store `CordumStore`), or
    /// to every generated type with `"*"`, as prost-build's `type_attribute` does. Parameter enums
    /// already implement `Display`, `FromStr` and serde's traits by the schema's spelling; this
    /// is for anything else a service needs (`#[derive(Default)]`, `#[non_exhaustive]`, a
    /// `schemars` derive). An attribute that is not Rust is [`Error::Generated`].
    ///
    /// ```
    /// let code = keyschema_codegen::Config::new()
    ///     .type_attribute("JobKey", "#[derive(PartialOrd, Ord)]")
    ///     .generate("param id int\njob:<id> string text \"A job\"\n", "jobs.keys")?;
    /// assert!(code.contains("#[derive(PartialOrd, Ord)]\npub struct JobKey"));
    /// # Ok::<(), keyschema_codegen::Error>(())
    /// ```
    pub fn type_attribute(&mut self, name: impl AsRef<str>, attribute: impl AsRef<str>) -> &mut Self {
        self.type_attributes
            .push((name.as_ref().to_string(), attribute.as_ref().to_string()));
        self
    }

    /// The attributes asked for on the type `name`, in the order given.
    pub(crate) fn attributes_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.type_attributes
            .iter()
            .filter(move |(target, _)| target == name || target == "*")
            .map(|(_, attribute)| attribute.as_str())
    }

    /// Names the generated store (default: the keyspace's name and `Store`, `CordumStore`).
    pub fn store_name(&mut self, name: impl AsRef<str>) -> &mut Self {
        self.store_name = Some(name.as_ref().to_string());
        self
    }

    /// Generates a store that bridges from the layout of `schema`, the previous version of
    /// the schema, while a layout change rolls out (docs/evolution.md). Each key whose pattern
    /// (or, for a string, its codec) changed while its type, parameters and values did not is
    /// read in the new layout first and in the previous one on a miss; writes go to the new
    /// layout; locks and leases are taken on both keys and rate limits counted on both. What
    /// the store does with the old keys is its `BridgeMode` (`store.bridging(mode)`). Keys
    /// that changed in a way the store cannot read across are listed as build warnings and in
    /// their accessor's documentation. The bridge ends when the audit finds no old keys
    /// (`keyschema audit --previous`): generate without this setting then.
    ///
    /// ```no_run
    /// keyschema_codegen::Config::new()
    ///     .previous("keys/cordum-v1.keys")
    ///     .compile(&["keys/cordum.keys"])?;
    /// # Ok::<(), keyschema_codegen::Error>(())
    /// ```
    pub fn previous(&mut self, schema: impl Into<PathBuf>) -> &mut Self {
        self.previous = Some(schema.into());
        self
    }

    /// Does not print the checker's warnings as `cargo:warning=` lines in a build script (they
    /// are printed by default), for schemas whose warnings are known and accepted.
    pub fn quiet(&mut self, quiet: bool) -> &mut Self {
        self.quiet = quiet;
        self
    }

    /// Formats the output with prettyplease (the default; needs the `format` feature).
    pub fn format(&mut self, format: bool) -> &mut Self {
        self.format = format;
        self
    }

    /// The Rust path of a type the schema names: as mapped, as written when it is already a
    /// path (`crate::state::StateCodec`), or in the including module's parent.
    pub(crate) fn resolve_type(&self, name: &str) -> String {
        match self.type_paths.get(name) {
            Some(path) => path.clone(),
            None if name.contains("::") => name.to_string(),
            None => format!("super::{name}"),
        }
    }

    /// Generates one file per schema (`cordum.keys` → `cordum.rs`), rewritten only when its
    /// content changed so an unchanged schema triggers no rebuild; prints `cargo:rerun-if-changed`.
    pub fn compile(&self, schemas: &[impl AsRef<Path>]) -> Result<Vec<PathBuf>, Error> {
        let mut written = Vec::new();
        for path in schemas {
            let (target, code) = self.render(path.as_ref())?;
            if std::fs::read_to_string(&target).ok().as_deref() != Some(code.as_str()) {
                std::fs::write(&target, &code).map_err(|source| Error::Write {
                    path: target.clone(),
                    source,
                })?;
            }
            written.push(target);
        }
        Ok(written)
    }

    /// Checks that the files [`Config::compile`] would write are there with exactly that
    /// content, writing nothing: for committed generated code, in CI. Answers the files that are
    /// missing or differ, each with where (empty: all up to date).
    ///
    /// ```no_run
    /// let stale = keyschema_codegen::Config::new().out_dir("src/generated").check(&["keys/cordum.keys"])?;
    /// assert!(stale.is_empty(), "regenerate: keyschema gen keys/cordum.keys --out src/generated");
    /// # Ok::<(), keyschema_codegen::Error>(())
    /// ```
    pub fn check(&self, schemas: &[impl AsRef<Path>]) -> Result<Vec<Stale>, Error> {
        let mut stale = Vec::new();
        for path in schemas {
            let (target, code) = self.render(path.as_ref())?;
            let committed = std::fs::read_to_string(&target).ok();
            let difference = match committed {
                None => "missing".to_string(),
                Some(committed) if committed == code => continue,
                Some(committed) => first_difference(&committed, &code),
            };
            stale.push(Stale {
                path: target,
                difference,
            });
        }
        Ok(stale)
    }

    /// The keys of `schema` that changed since the previous layout ([`Config::previous`]) in a
    /// way the generated store cannot bridge, each with why and what to do (none without a
    /// previous layout). A build script prints them as warnings.
    pub fn not_bridged(&self, schema: impl AsRef<Path>) -> Result<Vec<String>, Error> {
        let Some(previous) = self.previous.as_deref() else {
            return Ok(Vec::new());
        };
        let ((new, _), (old, _)) = (read_schema(schema.as_ref())?, read_schema(previous)?);
        Ok(generate::bridge::not_bridged(old.model(), new.model()))
    }

    /// The file one schema generates and its content.
    fn render(&self, path: &Path) -> Result<(PathBuf, String), Error> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR").map(PathBuf::from).ok_or(Error::NoOutDir)?,
        };
        // Only a build script (which has OUT_DIR) talks to cargo on stdout.
        let in_build_script = std::env::var_os("OUT_DIR").is_some();
        if in_build_script {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        let source = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path.display().to_string();
        let schema = keyschema::Schema::parse(&source, &name)?;
        if in_build_script && !self.quiet && !schema.warnings().is_empty() {
            // The checker's warnings, one `cargo:warning=` line each line of the rendering.
            for line in keyschema::render(schema.warnings(), &source, &name).lines() {
                println!("cargo:warning={line}");
            }
        }
        if in_build_script {
            if let Some(previous) = &self.previous {
                println!("cargo:rerun-if-changed={}", previous.display());
            }
        }
        let code = self.generate_from(&schema, &header_name(path))?;
        let stem = path
            .file_stem()
            .map_or_else(|| "schema".into(), |s| s.to_string_lossy().replace('-', "_"));
        Ok((out_dir.join(format!("{stem}.rs")), code))
    }

    /// The Rust source for one schema text; `name` is how the header and messages refer to it.
    pub fn generate(&self, source: &str, name: &str) -> Result<String, Error> {
        self.generate_from(&keyschema::Schema::parse(source, name)?, name)
    }

    fn generate_from(&self, schema: &keyschema::Schema, name: &str) -> Result<String, Error> {
        let previous = self.previous.as_deref().map(read_schema).transpose()?;
        let bridges = previous
            .as_ref()
            .map(|(old, _)| generate::bridge::plan(old.model(), schema.model()))
            .unwrap_or_default();
        let generator = generate::Generator {
            schema: schema.model(),
            ambiguities: schema.ambiguities(),
            source_name: name,
            config: self,
            previous: previous
                .as_ref()
                .map(|(old, old_name)| generate::bridge::PreviousSchema {
                    schema: old.model(),
                    ambiguities: old.ambiguities(),
                    name: old_name.clone(),
                }),
            bridges,
        };
        // Only a build script talks to cargo; `keyschema gen` reports them itself.
        if std::env::var_os("OUT_DIR").is_some() && !self.quiet {
            for line in generator.unbridged() {
                println!("cargo:warning={line}");
            }
        }
        let code = generator.generate()?;
        self.finish(code, name)
    }

    #[cfg(feature = "format")]
    fn finish(&self, code: String, name: &str) -> Result<String, Error> {
        let file = syn::parse_file(&code).map_err(|e| Error::Generated {
            schema: name.to_string(),
            message: e.to_string(),
        })?;
        if !self.format {
            return Ok(code);
        }
        // prettyplease drops the leading `//` comment; put the header back.
        let header = code.lines().next().unwrap_or_default();
        Ok(format!("{header}\n\n{}", prettyplease::unparse(&file)))
    }

    #[cfg(not(feature = "format"))]
    fn finish(&self, code: String, _name: &str) -> Result<String, Error> {
        Ok(code)
    }
}

/// A generated file that is not what its schema generates ([`Config::check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// The file.
    pub path: PathBuf,
    /// `missing`, or the first line that differs: `line 12: has "...", generates "..."`.
    pub difference: String,
}

/// Where `committed` departs from `generated`, in words: how many lines differ, and the first
/// that does other than the fingerprint (which changes with anything else).
fn first_difference(committed: &str, generated: &str) -> String {
    let (old, new): (Vec<&str>, Vec<&str>) = (committed.lines().collect(), generated.lines().collect());
    let fingerprint = |line: &str| {
        let line = line.trim().trim_end_matches(',');
        line.starts_with("0x") && line[2..].chars().all(|c| c.is_ascii_hexdigit() || c == '_')
    };
    let differing: Vec<usize> = (0..old.len().max(new.len()))
        .filter(|&i| old.get(i) != new.get(i))
        .collect();
    let Some(&first) = differing
        .iter()
        .find(|&&i| !(old.get(i).is_some_and(|l| fingerprint(l)) && new.get(i).is_some_and(|l| fingerprint(l))))
        .or(differing.first())
    else {
        return "the line endings differ".to_string();
    };
    let count = differing.len();
    let lines = if count == 1 { "line differs" } else { "lines differ" };
    match (old.get(first), new.get(first)) {
        (Some(a), Some(b)) => format!(
            "{count} {lines}; line {}: has {:?}, generates {:?}",
            first + 1,
            a.trim(),
            b.trim()
        ),
        (Some(_), None) => format!(
            "{count} {lines}; from line {} on, lines the schema no longer generates",
            first + 1
        ),
        (None, _) => format!(
            "{count} {lines}; it ends at line {} where the schema generates more",
            first + 1
        ),
    }
}

/// A schema file read and checked, with the name a generated file gives it.
fn read_schema(path: &Path) -> Result<(keyschema::Schema, String), Error> {
    let source = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let schema = keyschema::Schema::parse(&source, &path.display().to_string())?;
    Ok((schema, header_name(path)))
}

/// How a generated file's header names its schema: as given when relative (`keys/cordum.keys`),
/// else by its file name; never a path of the machine that generated it (nor one that depends
/// on the folder it was run from), so committed code is the same whoever generates it.
fn header_name(path: &Path) -> String {
    if path.is_relative() {
        return path.display().to_string().replace('\\', "/");
    }
    path.file_name()
        .map_or_else(|| "schema".to_string(), |name| name.to_string_lossy().into_owned())
}

/// Generates the stores of `schemas` into `OUT_DIR` with default settings.
pub fn compile(schemas: &[impl AsRef<Path>]) -> Result<Vec<PathBuf>, Error> {
    Config::new().compile(schemas)
}
