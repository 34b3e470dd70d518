//! Key packages for the other languages services are written in (`keyschema gen --lang go|ts|python`).
//!
//! One walk of the model ([`Package`]) gathers what every language needs: each key's pattern,
//! Redis type, codec, fields, TTL and slot group, each parameter's type, and the matcher's
//! decision table ([`keyschema::MatchTable`]). A small emitter per language turns it into one
//! dependency-free source file: a runtime written once per language (`runtime/`: the codec's
//! escaping, the matcher's walk, CRC16 slots, TTL resolution, each giving byte for byte what the
//! Rust codec gives), then the schema's tables and a typed formatter per key.

mod go;
mod python;
mod typescript;

use crate::names::snake;
use crate::Error;
use keyschema::model::{KeyDef, KeySchema, ParamType, RedisType, TtlPolicy};
use keyschema::{MatchTable, Schema};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A language `keyschema gen --lang` writes a key package for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lang {
    /// A Go package (one file, `gofmt`-clean, standard library only).
    Go,
    /// An ES module with its `.d.ts`.
    TypeScript,
    /// A typed Python 3.9+ module, standard library only.
    Python,
}

impl Lang {
    /// The language named `name` (`go`, `ts` or `typescript`, `python` or `py`).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "go" => Self::Go,
            "ts" | "typescript" => Self::TypeScript,
            "python" | "py" => Self::Python,
            _ => return None,
        })
    }
}

/// A file of a generated package: its name in the output folder, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    /// The file's name (`cordum_keys.go`).
    pub name: String,
    /// Its content.
    pub content: String,
}

/// The files of the `lang` package of the schema in `source`; `name` is how headers refer to it
/// (its file name) and gives the package its name (`cordum.keys` → `cordumkeys`, `cordum-keys.js`,
/// `cordum_keys.py`).
///
/// ```
/// let files = keyschema_codegen::package(
///     keyschema_codegen::Lang::Go,
///     "param id int\nthing:<id> string \"A thing\"\n",
///     "things.keys",
/// ).unwrap();
/// assert_eq!(files[0].name, "things_keys.go");
/// assert!(files[0].content.contains("func (k ThingKey) Format(id int64) (string, error)"));
/// ```
pub fn package(lang: Lang, source: &str, name: &str) -> Result<Vec<PackageFile>, Error> {
    let schema = Schema::parse(source, name)?;
    let package = Package::new(schema.model(), name);
    Ok(match lang {
        Lang::Go => go::emit(&package),
        Lang::TypeScript => typescript::emit(&package),
        Lang::Python => python::emit(&package),
    })
}

/// Writes the `lang` package of the schema file `schema` into `folder`; answers the paths.
pub fn write_package(lang: Lang, schema: &Path, folder: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    for file in read_package(lang, schema)? {
        let path = folder.join(&file.name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(file.content.as_str()) {
            std::fs::write(&path, &file.content).map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
        }
        written.push(path);
    }
    Ok(written)
}

/// The files of `folder` that differ from what [`write_package`] would write (empty: up to date).
pub fn check_package(lang: Lang, schema: &Path, folder: &Path) -> Result<Vec<PathBuf>, Error> {
    Ok(read_package(lang, schema)?
        .into_iter()
        .map(|file| (folder.join(&file.name), file.content))
        .filter(|(path, content)| std::fs::read_to_string(path).ok().as_deref() != Some(content.as_str()))
        .map(|(path, _)| path)
        .collect())
}

fn read_package(lang: Lang, schema: &Path) -> Result<Vec<PackageFile>, Error> {
    let source = std::fs::read_to_string(schema).map_err(|source| Error::Read {
        path: schema.to_path_buf(),
        source,
    })?;
    let name = schema
        .file_name()
        .map_or_else(|| schema.display().to_string(), |n| n.to_string_lossy().into_owned());
    package(lang, &source, &name)
}

/// What every emitter works from: the model, walked once.
pub(crate) struct Package<'a> {
    pub(crate) schema: &'a KeySchema,
    /// The schema's file name, for headers.
    pub(crate) source_name: &'a str,
    /// The schema's file stem in words (`cordum-cluster` → `cordum_cluster`).
    pub(crate) stem: String,
    /// The model's fingerprint, as the Rust store checks it.
    pub(crate) fingerprint: String,
    pub(crate) table: MatchTable,
    pub(crate) keys: Vec<KeyItem<'a>>,
}

/// One key, with what the emitters print about it.
pub(crate) struct KeyItem<'a> {
    pub(crate) def: &'a KeyDef,
    /// The codec as the schema writes it (`json(JobState)`; a hash's value codec; empty for a
    /// record hash).
    pub(crate) codec: String,
    /// A record hash's declared fields.
    pub(crate) fields: Vec<&'a str>,
    /// The hash tag template (`{<jobID>}`), if the pattern has one.
    pub(crate) slot_group: Option<String>,
    /// The parameters, in pattern order (by index in the schema's params).
    pub(crate) placeholders: Vec<usize>,
    /// A sentence of facts for doc comments: type, codec, TTL, slot group.
    pub(crate) summary: String,
}

impl<'a> Package<'a> {
    pub(crate) fn new(schema: &'a KeySchema, source_name: &'a str) -> Self {
        let stem = source_name.rsplit('/').next().unwrap_or(source_name);
        let stem = stem.strip_suffix(".keys").unwrap_or(stem);
        let keys = schema.keys.iter().map(|def| KeyItem::new(schema, def)).collect();
        Self {
            schema,
            source_name,
            stem: snake(stem).trim_start_matches("r#").to_string(),
            fingerprint: format!("{:016x}", keyschema::model_fingerprint(schema, keyschema::CONTRACT_TAG)),
            table: schema_matcher_table(schema),
            keys,
        }
    }

    /// The header line every file starts with (after the language's comment marker).
    pub(crate) fn header(&self) -> String {
        format!(
            "Code generated by keyschema {} from {} (fingerprint {}). DO NOT EDIT.",
            keyschema::VERSION,
            self.source_name,
            self.fingerprint
        )
    }

    /// The name of parameter `index` as the schema writes it.
    pub(crate) fn param_name(&self, index: usize) -> &str {
        &self.schema.params[index].name
    }
}

fn schema_matcher_table(schema: &KeySchema) -> MatchTable {
    keyschema::Matcher::new(std::sync::Arc::new(schema.clone())).table()
}

impl<'a> KeyItem<'a> {
    fn new(schema: &'a KeySchema, def: &'a KeyDef) -> Self {
        let param_name = |i: usize| schema.params[i].name.clone();
        let (codec, fields) = match &def.redis_type {
            RedisType::String { codec } | RedisType::List { codec, .. } | RedisType::Stream { codec, .. } => {
                (codec.display_with(&param_name), Vec::new())
            }
            RedisType::Set { member } | RedisType::Zset { member, .. } => {
                (member.display_with(&param_name), Vec::new())
            }
            RedisType::Hash { fields, entries } => (
                entries
                    .as_ref()
                    .map(|e| e.value.display_with(&param_name))
                    .unwrap_or_default(),
                fields.iter().map(|f| f.name.as_str()).collect(),
            ),
        };
        let slot_group = def.pattern.hash_tag.as_ref().map(|tag| format!("{{{}}}", tag.template));
        let mut summary = format!("A {}", def.redis_type.display_name().to_lowercase());
        if !codec.is_empty() {
            let _ = write!(summary, " of {codec}");
        }
        if !fields.is_empty() {
            let _ = write!(summary, " with fields {}", fields.join(", "));
        }
        let _ = write!(summary, "; {}", ttl_words(&def.ttl));
        if let Some(group) = &slot_group {
            let _ = write!(summary, "; slot group {group}");
        }
        summary.push('.');
        Self {
            def,
            codec,
            fields,
            slot_group,
            placeholders: def.pattern.params().collect(),
            summary,
        }
    }
}

/// A TTL in words: `no TTL`, `TTL 7d`, `TTL from JOB_META_TTL_SECONDS (default 7d)`.
pub(crate) fn ttl_words(ttl: &TtlPolicy) -> String {
    match ttl {
        TtlPolicy::None => "no TTL".into(),
        TtlPolicy::PerWrite { max } => {
            format!("TTL chosen per write, {}", ttl_words(max).replacen("TTL", "at most", 1))
        }
        other => format!("TTL {other}").replace('`', ""),
    }
}

/// Per parameter: the name of its own type in a package, for the parameters that get one (enums
/// and composite parameters), made by `name` and suffixed with `suffix` when `taken` says the
/// name is in use.
pub(crate) fn param_types(
    package: &Package<'_>,
    name: impl Fn(&str) -> String,
    taken: impl Fn(&str) -> bool,
    suffix: &str,
) -> Vec<Option<String>> {
    package
        .schema
        .params
        .iter()
        .map(|param| {
            let named = matches!(param.ty, ParamType::Enum { .. }) || !param.layouts.is_empty();
            named.then(|| {
                let name = name(&param.name);
                if taken(&name) {
                    format!("{name}{suffix}")
                } else {
                    name
                }
            })
        })
        .collect()
}

/// The words of a schema name, lowercase (`jobID` → `job`, `id`).
pub(crate) fn words(name: &str) -> Vec<String> {
    snake(name)
        .trim_start_matches("r#")
        .split('_')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A parameter's type as a short word for emitters' dispatch.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Ident,
    Int,
    Uuid,
    Enum,
    UnixSeconds,
    Ip,
}

impl Kind {
    pub(crate) fn of(ty: &ParamType) -> Self {
        match ty {
            ParamType::Text => Self::Text,
            ParamType::Ident => Self::Ident,
            ParamType::Int => Self::Int,
            ParamType::Uuid => Self::Uuid,
            ParamType::Enum { .. } => Self::Enum,
            ParamType::UnixSeconds => Self::UnixSeconds,
            ParamType::Ip => Self::Ip,
        }
    }

    /// The index the runtimes' `kind` enumerations give it.
    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    /// The runtime builder's method for values of this kind.
    pub(crate) fn method(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Ident => "ident",
            Self::Int => "int",
            Self::Uuid => "uuid",
            Self::Enum => "enum",
            Self::UnixSeconds => "unixSeconds",
            Self::Ip => "ip",
        }
    }
}

/// A TTL policy as the runtimes' tables write it: `(kind, millis, env, unit millis, unit name,
/// factor, base)`.
pub(crate) enum TtlShape<'a> {
    None,
    Fixed(u64),
    Env {
        var: &'a str,
        default: u64,
        unit: u64,
        unit_name: &'static str,
    },
    Multiple {
        factor: u32,
        base: Box<Self>,
    },
    PerWrite {
        max: Box<Self>,
    },
}

impl<'a> TtlShape<'a> {
    pub(crate) fn of(ttl: &'a TtlPolicy) -> Self {
        match ttl {
            TtlPolicy::None => Self::None,
            TtlPolicy::Fixed { millis } => Self::Fixed(millis.0),
            TtlPolicy::Env { var, default, unit } => Self::Env {
                var,
                default: default.0,
                unit: unit.millis(),
                unit_name: unit.name(),
            },
            TtlPolicy::Multiple { factor, base } => Self::Multiple {
                factor: *factor,
                base: Box::new(Self::of(base)),
            },
            TtlPolicy::PerWrite { max } => Self::PerWrite {
                max: Box::new(Self::of(max)),
            },
        }
    }
}

/// A string literal in the syntax Go, JavaScript and Python share for printable ASCII: double
/// quotes, backslash escapes, and `\u`/`\x` escapes for the rest, per `escape`.
pub(crate) fn quoted(text: &str, escape: impl Fn(char, &mut String)) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            other => escape(other, &mut out),
        }
    }
    out.push('"');
    out
}
