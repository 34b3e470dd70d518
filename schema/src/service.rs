//! The language service an editor needs (`keyschema lsp`, the playground): a schema's
//! diagnostics, hover facts, definitions and references of its names, an outline, completions
//! and formatting, over byte offsets in its text. Pure: no IO, so it builds for wasm32.
//!
//! Names are found in the syntax tree, so a schema with errors still has its outline and its
//! definitions; the facts of a key (its resolved TTL, slot group, an example key and its slot)
//! come from the checked model, when the schema checks.

use crate::diagnostics::{Diagnostic, Span};
use crate::syntax::ast::{CodecExpr, File, KeyDecl, Setting, TtlExpr};
use crate::{format_schema, key_slot, FormatSchemaError, KeyDef, ParamType, Schema};

/// What a name in a schema names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A parameter (`param jobID`, `<jobID>` in a pattern).
    Param,
    /// A declared TTL (`ttl job_meta = ...`).
    Ttl,
    /// A key, by its code name (`job_state`; its pattern is its declaration).
    Key,
    /// A group.
    Group,
    /// A record type of a value (`JobState` in `json(JobState)` or `proto(...)`): declared in the
    /// service's code, not in the schema, so it has references but no definition here.
    Record,
    /// A codec of the service's own (`OffsetCodec` in `codec(OffsetCodec)`): likewise.
    Codec,
}

/// One place a name is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    /// What it names.
    pub kind: NameKind,
    /// The name (for a key, its code name).
    pub name: String,
    /// Where it is written.
    pub span: Span,
    /// Whether this is where the name is declared.
    pub declaration: bool,
}

/// An entry of the outline: a group, a key, a parameter or a TTL, with the keys of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// Its name (a key's pattern).
    pub name: String,
    /// What it is: `group`, `key`, `param`, `ttl`.
    pub kind: &'static str,
    /// Its declaration.
    pub span: Span,
    /// A group's keys.
    pub children: Vec<Self>,
}

/// A completion: the word, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The text inserted.
    pub label: String,
    /// What it is (`parameter: uuid`, `keyword`, `Redis type`).
    pub detail: String,
}

/// A schema open in an editor: its text, syntax tree and (when it checks) model.
#[derive(Debug)]
pub struct Document {
    source: String,
    file: File,
    checked: Result<Schema, crate::SchemaError>,
    occurrences: Vec<Occurrence>,
}

const KEYWORDS: &[(&str, &str)] = &[
    ("param", "param NAME TYPE: a typed placeholder of patterns"),
    (
        "ttl",
        "ttl NAME = 7d | env(VAR, 7d[, unit = days]) | N * NAME | per_write(max = ...)",
    ),
    ("group", "group NAME [ttl T] [tag <param>] \"purpose\" { keys }"),
    ("service", "service NAME \"purpose\" { uses a, b }"),
    ("keyspace", "keyspace NAME [separator \":\"]"),
    ("lock", "lock PATTERN ttl T [lease] \"purpose\""),
    ("ratelimit", "ratelimit PATTERN ttl T limit N \"purpose\""),
    ("breaker", "breaker PATTERN ttl T threshold N open_for T \"purpose\""),
    ("idempotency", "idempotency PATTERN [ttl T] \"purpose\""),
    ("timers", "timers PATTERN member PARAM visibility T \"purpose\""),
    ("cache", "cache PATTERN CODEC ttl T \"purpose\""),
    ("index", "index PATTERN set|zset member PARAM of KEY \"purpose\""),
    ("dlq", "dlq NAME { entry PATTERN ...; index PATTERN ... }"),
];

const TYPES: &[&str] = &["string", "hash", "list", "set", "zset", "stream"];

const PARAM_TYPES: &[&str] = &["text", "ident", "int", "uuid", "enum", "unix_seconds", "ip"];

impl Document {
    /// `source`, named `file_name` in diagnostics.
    pub fn new(source: &str, file_name: &str) -> Self {
        let (file, _) = crate::syntax::parse(source);
        let checked = Schema::parse(source, file_name);
        let mut document = Self {
            source: source.to_string(),
            file,
            checked,
            occurrences: Vec::new(),
        };
        document.occurrences = document.find_occurrences();
        document
    }

    /// The text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Exactly `keyschema check`'s diagnostics: errors, or the warnings of a schema that checks.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match &self.checked {
            Ok(schema) => schema.warnings(),
            Err(error) => &error.diagnostics,
        }
    }

    /// The checked schema, when it checks.
    pub fn schema(&self) -> Option<&Schema> {
        self.checked.as_ref().ok()
    }

    /// Every name written in the schema, in order.
    pub fn occurrences(&self) -> &[Occurrence] {
        &self.occurrences
    }

    /// The name at byte `offset` (the innermost: a placeholder inside a key's pattern).
    pub fn occurrence_at(&self, offset: usize) -> Option<&Occurrence> {
        let offset = offset as u32;
        self.occurrences
            .iter()
            .filter(|o| o.span.start <= offset && offset <= o.span.end)
            .min_by_key(|o| o.span.end - o.span.start)
    }

    /// Where the name at `offset` is declared.
    pub fn definition(&self, offset: usize) -> Option<Span> {
        let at = self.occurrence_at(offset)?;
        self.occurrences
            .iter()
            .find(|o| o.declaration && o.kind == at.kind && o.name == at.name)
            .map(|o| o.span)
    }

    /// Every place the name at `offset` is written, its declaration included.
    pub fn references(&self, offset: usize) -> Vec<Span> {
        let Some(at) = self.occurrence_at(offset) else {
            return Vec::new();
        };
        self.occurrences
            .iter()
            .filter(|o| o.kind == at.kind && o.name == at.name)
            .map(|o| o.span)
            .collect()
    }

    /// What to show for the name at `offset` (Markdown), and the span it describes.
    pub fn hover(&self, offset: usize) -> Option<(String, Span)> {
        let at = self.occurrence_at(offset)?;
        let text = match at.kind {
            NameKind::Key => self.key_facts(&at.name)?,
            NameKind::Param => self.param_facts(&at.name)?,
            NameKind::Ttl => self.ttl_facts(&at.name)?,
            NameKind::Group => format!("group `{}`", at.name),
            NameKind::Record | NameKind::Codec => self.value_type_facts(at.kind, &at.name),
        };
        Some((text, at.span))
    }

    /// The facts of key `name`: pattern, Redis type, codec, TTL, slot group, an example key and
    /// its slot.
    pub fn key_facts(&self, name: &str) -> Option<String> {
        let schema = self.schema()?;
        let model = schema.model();
        let def = model.key(name)?;
        let param_name = |i: usize| model.params[i].name.clone();
        let codec = match &def.redis_type {
            crate::RedisType::String { codec }
            | crate::RedisType::List { codec, .. }
            | crate::RedisType::Stream { codec, .. } => codec.display_with(&param_name),
            crate::RedisType::Set { member } | crate::RedisType::Zset { member, .. } => {
                member.display_with(&param_name)
            }
            crate::RedisType::Hash { fields, entries } => match entries {
                Some(entries) => entries.value.display_with(&param_name),
                None => format!(
                    "fields {}",
                    fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            },
        };
        let mut text = format!(
            "**`{}`** `{}`\n\n{}\n\n- Redis type: {}\n- codec: {}\n- TTL: {}\n",
            def.name,
            def.pattern.template,
            def.purpose,
            def.redis_type.name(),
            codec,
            ttl_text(def)
        );
        match &def.pattern.hash_tag {
            Some(tag) => text.push_str(&format!("- slot group: `{{{}}}`\n", tag.template)),
            None => text.push_str("- slot group: none (keys spread over slots)\n"),
        }
        if let Some(example) = example_key(schema, def) {
            text.push_str(&format!(
                "- example: `{example}` (slot {})\n",
                key_slot(example.as_bytes())
            ));
        }
        if let Some(primitive) = &def.primitive {
            text.push_str(&format!("- primitive: {}\n", primitive_words(primitive)));
        }
        Some(text)
    }

    fn param_facts(&self, name: &str) -> Option<String> {
        let model = self.schema()?.model();
        let (index, param) = model.params.iter().enumerate().find(|(_, p)| p.name == name)?;
        let ty = match &param.ty {
            ParamType::Enum { variants, .. } => format!("enum({})", variants.join(", ")),
            other => other.name().to_string(),
        };
        let used: Vec<&str> = model
            .keys
            .iter()
            .filter(|k| k.pattern.params().any(|p| p == index))
            .map(|k| k.name.as_str())
            .collect();
        Some(format!(
            "**param `{name}`**: {ty}{}\n\nused by {} key(s): {}\n",
            if param.except.is_empty() {
                String::new()
            } else {
                format!(", except {}", param.except.join(", "))
            },
            used.len(),
            used.join(", ")
        ))
    }

    /// A record or codec: what it is, and the keys whose values use it.
    fn value_type_facts(&self, kind: NameKind, name: &str) -> String {
        let mut keys: Vec<String> = Vec::new();
        for decl in self.key_decls() {
            let mut found = Vec::new();
            for codec in decl_codecs(decl) {
                value_types(&mut found, codec);
            }
            if found.iter().any(|o| o.kind == kind && o.name == name) {
                keys.push(self.key_name(decl).unwrap_or_else(|| decl.pattern.value.clone()));
            }
        }
        let what = match kind {
            NameKind::Record => "record",
            _ => "codec",
        };
        format!(
            "**{what} `{name}`**: defined in the service's code\n\nthe values of {} key(s): {}\n",
            keys.len(),
            keys.join(", ")
        )
    }

    fn ttl_facts(&self, name: &str) -> Option<String> {
        let decl = self.file.ttls.iter().find(|t| t.name.value == name)?;
        let written = &self.source[decl.expr.span().start as usize..decl.expr.span().end as usize];
        Some(format!("**ttl `{name}`** = `{written}`\n"))
    }

    /// The outline: groups with their keys, keys outside groups, parameters, TTLs.
    pub fn symbols(&self) -> Vec<Symbol> {
        let key = |decl: &KeyDecl| Symbol {
            name: decl.pattern.value.clone(),
            kind: "key",
            span: decl.span,
            children: Vec::new(),
        };
        let mut out: Vec<Symbol> = self
            .file
            .params
            .iter()
            .map(|p| Symbol {
                name: p.name.value.clone(),
                kind: "param",
                span: p.span,
                children: Vec::new(),
            })
            .collect();
        out.extend(self.file.ttls.iter().map(|t| Symbol {
            name: t.name.value.clone(),
            kind: "ttl",
            span: t.name.span.to(t.expr.span()),
            children: Vec::new(),
        }));
        out.extend(self.file.keys.iter().map(key));
        for group in &self.file.groups {
            let mut children: Vec<Symbol> = group.keys.iter().map(key).collect();
            children.extend(group.dlqs.iter().flat_map(|d| d.keys.iter().map(key)));
            let end = children.last().map_or(group.name.span, |c| c.span);
            out.push(Symbol {
                name: group.name.value.clone(),
                kind: "group",
                span: group.name.span.to(end),
                children,
            });
        }
        out.sort_by_key(|s| s.span.start);
        out
    }

    /// Completions at `offset`: after `<` the parameters; after a pattern the Redis types; at
    /// the start of a line the keywords; elsewhere names in scope (parameters, TTLs, keys).
    pub fn completions(&self, offset: usize) -> Vec<Completion> {
        let before = &self.source[..offset.min(self.source.len())];
        let line = before.rsplit('\n').next().unwrap_or("");
        let word = |label: &str, detail: &str| Completion {
            label: label.to_string(),
            detail: detail.to_string(),
        };
        let params = self.file.params.iter().map(|p| {
            let ty = p.ty.name.value.as_str();
            word(&p.name.value, &format!("parameter: {ty}"))
        });
        // Inside a placeholder (`job:<` typed so far): the parameters.
        if line
            .rfind('<')
            .is_some_and(|open| line.rfind('>').map_or(true, |close| close < open))
        {
            return params.collect();
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let trailing_space = line.ends_with(char::is_whitespace);
        match (words.as_slice(), trailing_space) {
            ([] | [_], false) => KEYWORDS.iter().map(|(k, d)| word(k, d)).collect(),
            (["param", _], true) => PARAM_TYPES.iter().map(|t| word(t, "parameter type")).collect(),
            ([first, ..], _) if *first == "ttl" || words.contains(&"ttl") && trailing_space => self
                .file
                .ttls
                .iter()
                .map(|t| word(&t.name.value, "declared TTL"))
                .collect(),
            ([_], true) | ([_, _], true) => TYPES.iter().map(|t| word(t, "Redis type")).collect(),
            _ => params
                .chain(self.file.ttls.iter().map(|t| word(&t.name.value, "declared TTL")))
                .collect(),
        }
    }

    /// The text in the canonical layout (`keyschema fmt`).
    pub fn formatted(&self) -> Result<String, FormatSchemaError> {
        format_schema(&self.source, "schema")
    }

    fn find_occurrences(&self) -> Vec<Occurrence> {
        let mut out = Vec::new();
        let push = |out: &mut Vec<Occurrence>, kind, name: &str, span, declaration| {
            out.push(Occurrence {
                kind,
                name: name.to_string(),
                span,
                declaration,
            });
        };
        for param in &self.file.params {
            push(&mut out, NameKind::Param, &param.name.value, param.name.span, true);
            for alternative in &param.alternatives {
                placeholders(&mut out, &alternative.value, alternative.span);
            }
        }
        for ttl in &self.file.ttls {
            push(&mut out, NameKind::Ttl, &ttl.name.value, ttl.name.span, true);
            ttl_names(&mut out, &ttl.expr);
        }
        for decl in self.key_decls() {
            if let Some(name) = self.key_name(decl) {
                push(&mut out, NameKind::Key, &name, decl.pattern.span, true);
            }
            placeholders(&mut out, &decl.pattern.value, decl.pattern.span);
            if let Some(ttl) = &decl.ttl {
                ttl_names(&mut out, ttl);
            }
            for codec in decl.member.iter().chain(decl.codec.iter()) {
                self.codec_param(&mut out, codec);
            }
            for codec in decl_codecs(decl) {
                value_types(&mut out, codec);
            }
            if let Some(of) = &decl.of {
                push(&mut out, NameKind::Key, &of.value, of.span, false);
            }
            for Setting { name, value } in &decl.settings {
                if let (Some(value), "cleanup") = (value, name.value.as_str()) {
                    push(&mut out, NameKind::Key, &value.value, value.span, false);
                }
            }
        }
        for group in &self.file.groups {
            push(&mut out, NameKind::Group, &group.name.value, group.name.span, true);
            if let Some(ttl) = &group.ttl {
                ttl_names(&mut out, ttl);
            }
            if let Some(tag) = &group.tag {
                placeholders(&mut out, &tag.value, tag.span);
            }
        }
        for service in &self.file.services {
            for used in service.uses.iter().chain(&service.reads).chain(&service.writes) {
                let kind = if self.file.groups.iter().any(|g| g.name.value == used.value) {
                    NameKind::Group
                } else {
                    NameKind::Key
                };
                push(&mut out, kind, &used.value, used.span, false);
            }
        }
        out.sort_by_key(|o| o.span.start);
        out
    }

    /// Every key declaration: at the top level, in groups and in dead-letter queues.
    fn key_decls(&self) -> impl Iterator<Item = &KeyDecl> {
        self.file
            .keys
            .iter()
            .chain(
                self.file
                    .groups
                    .iter()
                    .flat_map(|g| g.keys.iter().chain(g.dlqs.iter().flat_map(|d| d.keys.iter()))),
            )
            .chain(self.file.dlqs.iter().flat_map(|d| d.keys.iter()))
    }

    /// The code name of a declared key: from the model when the schema checks (by where it is
    /// declared), else `as NAME`.
    fn key_name(&self, decl: &KeyDecl) -> Option<String> {
        if let Some(schema) = self.schema() {
            let found = schema
                .model()
                .keys
                .iter()
                .find(|k| k.span.start == decl.span.start || k.span.start == decl.pattern.span.start);
            if let Some(def) = found {
                return Some(def.name.clone());
            }
        }
        decl.code_name.as_ref().map(|n| n.value.clone())
    }

    fn codec_param(&self, out: &mut Vec<Occurrence>, codec: &CodecExpr) {
        if self.file.params.iter().any(|p| p.name.value == codec.name.value) {
            out.push(Occurrence {
                kind: NameKind::Param,
                name: codec.name.value.clone(),
                span: codec.name.span,
                declaration: false,
            });
        }
    }
}

/// Every codec written in a key's declaration: its value's, its members', its fields'.
fn decl_codecs(decl: &KeyDecl) -> impl Iterator<Item = &CodecExpr> {
    decl.codec
        .iter()
        .chain(decl.member.iter())
        .chain(decl.fields.iter().filter_map(|f| f.codec.as_ref()))
}

/// The records (`json(T)`, `proto(T)`) and own codecs (`codec(C)`) named in `codec`, through
/// wrappers such as `lz4(...)`.
fn value_types(out: &mut Vec<Occurrence>, codec: &CodecExpr) {
    let kind = match codec.name.value.as_str() {
        "json" | "proto" => Some(NameKind::Record),
        "codec" => Some(NameKind::Codec),
        _ => None,
    };
    if let (Some(kind), Some(arg)) = (kind, &codec.arg) {
        out.push(Occurrence {
            kind,
            name: arg.value.clone(),
            span: arg.span,
            declaration: false,
        });
    }
    if let Some(inner) = &codec.inner {
        value_types(out, inner);
    }
}

/// The `<name>` placeholders of a pattern (or a layout) written at `span`.
fn placeholders(out: &mut Vec<Occurrence>, text: &str, span: Span) {
    let mut rest = 0;
    while let Some(open) = text[rest..].find('<') {
        let start = rest + open + 1;
        let Some(len) = text[start..].find('>') else { break };
        out.push(Occurrence {
            kind: NameKind::Param,
            name: text[start..start + len].to_string(),
            span: Span::new(span.start as usize + start, span.start as usize + start + len),
            declaration: false,
        });
        rest = start + len + 1;
    }
}

fn ttl_names(out: &mut Vec<Occurrence>, expr: &TtlExpr) {
    match expr {
        TtlExpr::Named(name) => out.push(Occurrence {
            kind: NameKind::Ttl,
            name: name.value.clone(),
            span: name.span,
            declaration: false,
        }),
        TtlExpr::Multiple { base, .. } => ttl_names(out, base),
        TtlExpr::PerWrite { max, .. } => ttl_names(out, max),
        _ => {}
    }
}

/// A key's TTL as the docs write it, with its default in milliseconds.
fn ttl_text(def: &KeyDef) -> String {
    match def.ttl.default_millis() {
        None => "none".into(),
        Some(millis) => format!("{} ({} ms by default)", def.ttl, millis.0),
    }
}

fn primitive_words(primitive: &crate::Primitive) -> String {
    format!("{primitive:?}").chars().take(200).collect()
}

/// A key of `def` with example values: the first variant of an enum, a fixed uuid, `42`...
pub fn example_key(schema: &Schema, def: &KeyDef) -> Option<String> {
    let model = schema.model();
    let values: Vec<(String, String)> = def
        .pattern
        .params()
        .map(|i| {
            let param = &model.params[i];
            let value = match &param.ty {
                ParamType::Text => "example".to_string(),
                ParamType::Ident => "id1".to_string(),
                ParamType::Int => "42".to_string(),
                ParamType::Uuid => "0f8fad5b-d9cb-469f-a165-70867728950e".to_string(),
                ParamType::Enum { variants, .. } => variants.first().cloned().unwrap_or_default(),
                ParamType::UnixSeconds => "1700000000".to_string(),
                ParamType::Ip => "10.0.0.1".to_string(),
            };
            (param.name.clone(), value)
        })
        .collect();
    let pairs: Vec<(&str, &str)> = values.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    model.format_key_from_text(&def.name, &pairs).ok()
}
