//! What a change of schema does to a running keyspace: `keyschema diff OLD NEW`. Each key
//! definition of the old schema is followed to the new one by its code name; a sample key is
//! formatted with the old layout, formatted again with the new one from the same values, and
//! linted against the new schema. What differs is classified:
//!
//! - **SOURCE**: generated code changes (a key or parameter removed or renamed, a parameter's
//!   type, a record field removed);
//! - **DATA**: keys the old version wrote are not where, or not what, the new version reads (key
//!   bytes, Redis type, value codec, a field's codec);
//! - **CLUSTER**: keys move to another slot (hash tag added, removed or changed);
//! - **COORDINATION**: a fleet running both versions disagrees (a lock, lease, rate limit,
//!   idempotency key, timer queue or dead-letter queue whose key moved or whose limit changed);
//! - **LIFETIME**: a TTL shortened, removed, or read from another environment variable;
//! - **MATCHING**: a key the old version wrote is taken by another pattern of the new schema.
//!
//! Every finding has a stable rule id, both positions, a witness (old key, new key, both slots)
//! where keys are involved, how long old keys can exist (the old TTL, or until migrated), and
//! the remedy. Pure: the CLI reads the files.

use crate::diagnostics::LineIndex;
use crate::model::{Codec, KeyDef, KeySchema, ParamType, Primitive, RedisType};
use crate::{key_slot, Schema};
use serde::Serialize;
use std::fmt::{self, Write as _};

/// The version of the JSON form of a [`DiffReport`], raised when a field changes meaning.
pub const DIFF_VERSION: u32 = 1;

/// The classes of change; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeClass {
    /// Generated code changes.
    Source,
    /// Keys already written become unreadable or misread.
    Data,
    /// Keys move slots.
    Cluster,
    /// A fleet running both versions disagrees.
    Coordination,
    /// Keys live shorter, forever, or by another variable.
    Lifetime,
    /// A new pattern takes keys the old schema gave to another.
    Matching,
}

impl ChangeClass {
    /// Every class, in report order.
    pub const ALL: [Self; 6] = [
        Self::Source,
        Self::Data,
        Self::Cluster,
        Self::Coordination,
        Self::Lifetime,
        Self::Matching,
    ];

    /// The class's name as written (`DATA`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "SOURCE",
            Self::Data => "DATA",
            Self::Cluster => "CLUSTER",
            Self::Coordination => "COORDINATION",
            Self::Lifetime => "LIFETIME",
            Self::Matching => "MATCHING",
        }
    }

    /// The class named `name` (any case).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|class| class.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for ChangeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A place in a schema file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file as given.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A key the old version writes, and what becomes of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Witness {
    /// A key as the old version writes it.
    pub old_key: String,
    /// Its slot.
    pub old_slot: u16,
    /// The key the new version writes for the same values, if it has one.
    pub new_key: Option<String>,
    /// Its slot.
    pub new_slot: Option<u16>,
    /// The new schema's definition the old key matches (`None`: none).
    pub read_as: Option<String>,
}

/// One classified change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The stable rule id (`DATA001`).
    pub rule: &'static str,
    /// Its class.
    pub class: ChangeClass,
    /// The key definition concerned (its old code name).
    pub key: String,
    /// What changed, in words.
    pub message: String,
    /// Where in the old schema.
    pub old: Option<Location>,
    /// Where in the new schema.
    pub new: Option<Location>,
    /// A key that shows it.
    pub witness: Option<Witness>,
    /// How long keys the old version wrote can still exist: its TTL, or until migrated.
    pub bridge: String,
    /// What to do.
    pub remedy: String,
}

/// Everything `diff` found.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// [`DIFF_VERSION`].
    pub version: u32,
    /// The old schema's file.
    pub old: String,
    /// The new schema's file.
    pub new: String,
    /// The findings, by old key definition, then rule.
    pub findings: Vec<Finding>,
}

impl DiffReport {
    /// Whether a finding of one of `classes` was made.
    pub fn has_any(&self, classes: &[ChangeClass]) -> bool {
        self.findings.iter().any(|f| classes.contains(&f.class))
    }

    /// The report as text, one finding per paragraph.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for finding in &self.findings {
            let at = finding.new.as_ref().or(finding.old.as_ref());
            let _ = write!(out, "{} {}", finding.class, finding.rule);
            if let Some(at) = at {
                let _ = write!(out, " {at}");
            }
            let _ = writeln!(out, ": {}", finding.message);
            if let (Some(old), Some(_)) = (&finding.old, &finding.new) {
                let _ = writeln!(out, "  was at {old}");
            }
            if let Some(witness) = &finding.witness {
                let _ = write!(out, "  e.g. {} (slot {})", witness.old_key, witness.old_slot);
                match (&witness.new_key, witness.new_slot) {
                    (Some(key), Some(slot)) if *key != witness.old_key => {
                        let _ = write!(out, " -> {key} (slot {slot})");
                    }
                    _ => {}
                }
                match &witness.read_as {
                    Some(name) if *name != finding.key => {
                        let _ = write!(out, "; the new schema reads it as `{name}`");
                    }
                    None => out.push_str("; the new schema matches it to no pattern"),
                    _ => {}
                }
                out.push('\n');
            }
            let _ = writeln!(out, "  bridge: {}", finding.bridge);
            let _ = writeln!(out, "  remedy: {}", finding.remedy);
        }
        let mut counts: Vec<String> = Vec::new();
        for class in ChangeClass::ALL {
            let n = self.findings.iter().filter(|f| f.class == class).count();
            if n > 0 {
                counts.push(format!("{n} {class}"));
            }
        }
        if counts.is_empty() {
            let _ = writeln!(out, "{} -> {}: no change that affects keys or code", self.old, self.new);
        } else {
            let _ = writeln!(out, "{} -> {}: {}", self.old, self.new, counts.join(", "));
        }
        out
    }

    /// The report as GitHub Actions workflow commands: one annotation per finding, on the new
    /// file where the finding has a place there.
    pub fn to_github(&self) -> String {
        let mut out = String::new();
        for finding in &self.findings {
            let level = match finding.class {
                ChangeClass::Source | ChangeClass::Lifetime => "warning",
                _ => "error",
            };
            let mut message = finding.message.clone();
            if let Some(witness) = &finding.witness {
                let _ = write!(message, " (e.g. {})", witness.old_key);
            }
            let _ = write!(message, ". Bridge: {}. Remedy: {}", finding.bridge, finding.remedy);
            match finding.new.as_ref().or(finding.old.as_ref()) {
                Some(at) => {
                    let _ = writeln!(
                        out,
                        "::{level} file={},line={},col={},title={} {}::{}",
                        at.file,
                        at.line,
                        at.column,
                        finding.class,
                        finding.rule,
                        escape_github(&message)
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "::{level} title={} {}::{}",
                        finding.class,
                        finding.rule,
                        escape_github(&message)
                    );
                }
            }
        }
        out
    }
}

/// A workflow command's message: `%`, CR and LF escaped.
fn escape_github(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A schema and where it came from, for positions.
pub struct Side<'a> {
    /// The checked schema.
    pub schema: &'a Schema,
    /// Its source text.
    pub source: &'a str,
    /// The file as given.
    pub file: &'a str,
}

impl Side<'_> {
    fn location(&self, key: &KeyDef) -> Location {
        let position = LineIndex::new(self.source).position(key.span.start);
        Location {
            file: self.file.to_string(),
            line: position.line,
            column: position.column,
        }
    }
}

/// Classifies every change from `old` to `new`; see the module documentation.
///
/// ```
/// use keyschema::{diff, ChangeClass, DiffSide, Schema};
/// let old_text = "param id uuid\nlock app:lock:<id> ttl 10s \"Per item\"\n";
/// let new_text = "param id uuid\nlock app:lock:{<id>} ttl 10s \"Per item\"\n";
/// let (old, new) = (Schema::parse(old_text, "old.keys").unwrap(), Schema::parse(new_text, "new.keys").unwrap());
/// let report = diff(
///     &DiffSide { schema: &old, source: old_text, file: "old.keys" },
///     &DiffSide { schema: &new, source: new_text, file: "new.keys" },
/// );
/// assert!(report.has_any(&[ChangeClass::Coordination]));
/// ```
pub fn diff(old: &Side<'_>, new: &Side<'_>) -> DiffReport {
    let (from, to) = (old.schema.model(), new.schema.model());
    let mut findings = Vec::new();
    for key in &from.keys {
        if matches!(key.primitive, Some(Primitive::Companion { .. })) {
            continue; // Follows the key it serves.
        }
        Follow {
            old,
            new,
            from,
            to,
            key,
        }
        .findings(&mut findings);
    }
    DiffReport {
        version: DIFF_VERSION,
        old: old.file.to_string(),
        new: new.file.to_string(),
        findings,
    }
}

/// One old key definition followed into the new schema.
struct Follow<'a, 'b> {
    old: &'a Side<'b>,
    new: &'a Side<'b>,
    from: &'a KeySchema,
    to: &'a KeySchema,
    key: &'a KeyDef,
}

impl Follow<'_, '_> {
    fn findings(&self, out: &mut Vec<Finding>) {
        let key = self.key;
        let values = sample_values(self.from, key);
        let borrowed: Vec<(&str, &str)> = values.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let Ok(old_key) = self.from.format_key_from_text(&key.name, &borrowed) else {
            return; // No sample formats (every value excluded): nothing to follow.
        };
        let read_as = self.new.schema.lint(&old_key).name;
        let successor = self.to.keys.iter().position(|k| k.name == key.name).or_else(|| {
            // Renamed: the same pattern under another code name.
            self.to
                .keys
                .iter()
                .position(|k| k.pattern.template == key.pattern.template && self.from.key(&k.name).is_none())
        });
        let Some(successor) = successor.map(|i| &self.to.keys[i]) else {
            let mut removed = self.finding(
                "SOURCE001",
                ChangeClass::Source,
                format!(
                    "`{}` ({}) is removed: its accessor and key type are gone",
                    key.name, key.pattern.template
                ),
                None,
            );
            removed.witness = Some(self.witness(&old_key, None, read_as.clone()));
            removed.remedy = "delete the old keys once no instance of the old version runs, or keep the definition until they expire".into();
            out.push(removed);
            self.coordination(out, None, &old_key, None, read_as.as_deref());
            return;
        };
        if successor.name != key.name {
            let mut renamed = self.finding(
                "SOURCE002",
                ChangeClass::Source,
                format!(
                    "`{}` is renamed `{}`: code that names it changes",
                    key.name, successor.name
                ),
                Some(successor),
            );
            renamed.remedy = "rename the calls in the services (the keys are unchanged)".into();
            out.push(renamed);
        }
        // The same values in the new layout.
        let new_values = sample_values_for(self.from, key, self.to, successor);
        let new_key = new_values.and_then(|values| {
            let borrowed: Vec<(&str, &str)> = values.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            self.to.format_key_from_text(&successor.name, &borrowed).ok()
        });
        if new_key.is_none() {
            let mut params = self.finding(
                "SOURCE003",
                ChangeClass::Source,
                format!(
                    "the parameters of `{}` change ({} -> {}): callers pass other values",
                    key.name, key.pattern.template, successor.pattern.template
                ),
                Some(successor),
            );
            params.witness = Some(self.witness(&old_key, None, read_as.clone()));
            params.remedy = "update the calls; migrate the old keys if their values map to the new ones".into();
            out.push(params);
        }
        let witness = self.witness(&old_key, new_key.as_deref(), read_as.clone());
        let migrate = format!(
            "bridge reads (read the new key, fall back to the old one) or `keyschema migrate --from {} --to {} --source URL --target URL` before the old version stops",
            self.old.file, self.new.file
        );
        let moved = new_key.as_deref().is_some_and(|new_key| new_key != old_key);
        if moved {
            let mut data = self.finding(
                "DATA001",
                ChangeClass::Data,
                format!(
                    "the keys of `{}` change: {} -> {}",
                    key.name, key.pattern.template, successor.pattern.template
                ),
                Some(successor),
            );
            data.witness = Some(witness.clone());
            data.remedy = migrate.clone();
            out.push(data);
        }
        if witness.new_slot.is_some_and(|slot| slot != witness.old_slot) {
            let mut cluster = self.finding(
                "CLUSTER001",
                ChangeClass::Cluster,
                format!(
                    "the keys of `{}` move to another slot (hash tag {} -> {})",
                    key.name,
                    tag_text(key),
                    tag_text(successor)
                ),
                Some(successor),
            );
            cluster.witness = Some(witness.clone());
            cluster.remedy =
                format!("{migrate}; on a cluster, multi-key operations across the two layouts fail with CROSSSLOT");
            out.push(cluster);
        }
        if key.redis_type.kind() != successor.redis_type.kind() {
            let mut kind = self.finding(
                "DATA002",
                ChangeClass::Data,
                format!(
                    "`{}` changes Redis type: {} -> {}",
                    key.name,
                    key.redis_type.name(),
                    successor.redis_type.name()
                ),
                Some(successor),
            );
            kind.witness = Some(witness.clone());
            kind.remedy = "old keys fail with WRONGTYPE: write the new type under a new pattern and migrate".into();
            out.push(kind);
        } else {
            self.codecs(out, successor, &witness);
        }
        self.lifetime(out, successor);
        self.coordination(out, Some(successor), &old_key, new_key.as_deref(), read_as.as_deref());
        // Keys that moved and match nothing new are the DATA finding's; taken by another
        // definition, they would be misread.
        if let Some(other) = read_as.as_deref().filter(|other| *other != successor.name) {
            let mut matching = self.finding(
                "MATCHING001",
                ChangeClass::Matching,
                format!(
                    "keys of `{}` written by the old version are taken by `{other}` in the new schema",
                    key.name
                ),
                Some(successor),
            );
            matching.witness = Some(witness);
            matching.remedy = "make the patterns distinct (a literal segment), or migrate the old keys first".into();
            out.push(matching);
        }
    }

    /// A finding about this key; `new` is its definition in the new schema, if any.
    fn finding(&self, rule: &'static str, class: ChangeClass, message: String, new: Option<&KeyDef>) -> Finding {
        Finding {
            rule,
            class,
            key: self.key.name.clone(),
            message,
            old: Some(self.old.location(self.key)),
            new: new.map(|def| self.new.location(def)),
            witness: None,
            bridge: match self.key.ttl.default_millis() {
                Some(ttl) => format!("old keys expire within {ttl} (their TTL)"),
                None => "old keys stay until migrated or deleted (no TTL)".to_string(),
            },
            remedy: String::new(),
        }
    }

    fn witness(&self, old_key: &str, new_key: Option<&str>, read_as: Option<String>) -> Witness {
        Witness {
            old_key: old_key.to_string(),
            old_slot: key_slot(old_key.as_bytes()),
            new_key: new_key.map(str::to_string),
            new_slot: new_key.map(|key| key_slot(key.as_bytes())),
            read_as,
        }
    }

    /// Value codecs and record fields.
    fn codecs(&self, out: &mut Vec<Finding>, successor: &KeyDef, witness: &Witness) {
        let key = self.key;
        let (old_codecs, new_codecs) = (
            codecs(self.from, &key.redis_type),
            codecs(self.to, &successor.redis_type),
        );
        for (place, old_codec) in &old_codecs {
            match new_codecs.iter().find(|(p, _)| p == place) {
                Some((_, new_codec)) if new_codec != old_codec => {
                    let mut codec = self.finding(
                        if place.starts_with("field ") {
                            "DATA004"
                        } else {
                            "DATA003"
                        },
                        ChangeClass::Data,
                        format!("the {place} of `{}` is encoded {new_codec}, was {old_codec}", key.name),
                        Some(successor),
                    );
                    codec.witness = Some(witness.clone());
                    codec.remedy = "old values fail to decode (a typed error naming the key): keep reading the old encoding during the bridge, or migrate under a new pattern".into();
                    out.push(codec);
                }
                None if place.starts_with("field ") => {
                    let mut field = self.finding(
                        "SOURCE004",
                        ChangeClass::Source,
                        format!("the {place} of `{}` is removed from the record", key.name),
                        Some(successor),
                    );
                    field.remedy = "code reading the field changes; old values keep the field until rewritten".into();
                    out.push(field);
                }
                _ => {}
            }
        }
    }

    fn lifetime(&self, out: &mut Vec<Finding>, successor: &KeyDef) {
        let key = self.key;
        let (was, now) = (key.ttl.default_millis(), successor.ttl.default_millis());
        let change = match (was, now) {
            (Some(_), None) => Some((
                "LIFETIME002",
                format!("`{}` no longer expires (its TTL was {})", key.name, key.ttl),
                "keys written from now on stay until deleted: check that something removes them",
            )),
            (Some(was), Some(now)) if now < was => Some((
                "LIFETIME001",
                format!("the TTL of `{}` is shortened: {} -> {}", key.name, key.ttl, successor.ttl),
                "old keys keep their longer TTL until rewritten (`keyschema audit` reports them as too long; `--fix` does not shorten)",
            )),
            _ => None,
        };
        if let Some((rule, message, remedy)) = change {
            let mut lifetime = self.finding(rule, ChangeClass::Lifetime, message, Some(successor));
            lifetime.remedy = remedy.into();
            out.push(lifetime);
        }
        if let (Some(old_var), Some(new_var)) = (key.ttl.env_var(), successor.ttl.env_var()) {
            if old_var != new_var {
                let mut var = self.finding(
                    "LIFETIME003",
                    ChangeClass::Lifetime,
                    format!("the TTL of `{}` is read from `{new_var}`, was `{old_var}`", key.name),
                    Some(successor),
                );
                var.remedy = format!("set `{new_var}` wherever `{old_var}` is set, before deploying");
                out.push(var);
            }
        }
    }

    /// Primitives a fleet shares: both versions must use one key and one setting.
    fn coordination(
        &self,
        out: &mut Vec<Finding>,
        successor: Option<&KeyDef>,
        old_key: &str,
        new_key: Option<&str>,
        read_as: Option<&str>,
    ) {
        let key = self.key;
        let Some(primitive) = &key.primitive else { return };
        let moved = new_key != Some(old_key);
        let (rule, consequence) = match primitive {
            Primitive::Lock { .. } => (
                "COORDINATION001",
                "old and new instances take different keys: two holders, two leaders",
            ),
            Primitive::RateLimit(_) => (
                "COORDINATION002",
                "old and new instances count apart: the limit is doubled during the deploy",
            ),
            Primitive::Idempotency => (
                "COORDINATION003",
                "a request seen by an old instance is processed again by a new one",
            ),
            Primitive::Timers { .. } | Primitive::DlqEntry { .. } | Primitive::DlqIndex { .. } => (
                "COORDINATION004",
                "work queued by the old version is stranded where the new one does not look",
            ),
            Primitive::Breaker(_) => (
                "COORDINATION005",
                "old and new instances count failures apart: the breaker opens later",
            ),
            _ => return,
        };
        if moved || successor.is_none() {
            let mut moved = self.finding(
                rule,
                ChangeClass::Coordination,
                format!("the {} `{}` moves: {consequence}", primitive_name(primitive), key.name),
                successor,
            );
            moved.witness = Some(self.witness(old_key, new_key, read_as.map(str::to_string)));
            moved.remedy = "during the rolling deploy take the primitive on both keys (bridge), or stop the old version before the new one starts".into();
            out.push(moved);
            return;
        }
        if let (Primitive::RateLimit(was), Some(Primitive::RateLimit(now))) =
            (primitive, successor.and_then(|s| s.primitive.as_ref()))
        {
            if was.algorithm != now.algorithm {
                let mut limit = self.finding(
                    "COORDINATION006",
                    ChangeClass::Coordination,
                    format!(
                        "the rate limit `{}` changes its limit: a mixed fleet enforces both",
                        key.name
                    ),
                    successor,
                );
                limit.remedy =
                    "deploy the new limit to every instance at once, or accept both limits during the deploy".into();
                out.push(limit);
            }
        }
    }
}

fn primitive_name(primitive: &Primitive) -> &'static str {
    match primitive {
        Primitive::Lock {
            hold: crate::model::LockHold::Lease,
        } => "lease",
        Primitive::Lock { .. } => "lock",
        Primitive::RateLimit(_) => "rate limit",
        Primitive::Idempotency => "idempotency key",
        Primitive::Timers { .. } => "timer queue",
        Primitive::DlqEntry { .. } | Primitive::DlqIndex { .. } => "dead-letter queue",
        Primitive::Breaker(_) => "breaker",
        _ => "key",
    }
}

fn tag_text(key: &KeyDef) -> String {
    key.pattern
        .hash_tag
        .as_ref()
        .map_or_else(|| "none".to_string(), |tag| format!("{{{}}}", tag.template))
}

/// The value codecs of a Redis type, by place (`value`, `member`, `field state`).
fn codecs(schema: &KeySchema, redis_type: &RedisType) -> Vec<(String, String)> {
    let text = |codec: &Codec| codec_text(schema, codec);
    match redis_type {
        RedisType::String { codec } | RedisType::List { codec, .. } | RedisType::Stream { codec, .. } => {
            vec![("value".into(), text(codec))]
        }
        RedisType::Set { member } | RedisType::Zset { member, .. } => vec![("member".into(), text(member))],
        RedisType::Hash {
            entries: Some(entries), ..
        } => vec![
            ("field name".into(), text(&entries.field)),
            ("value".into(), text(&entries.value)),
        ],
        RedisType::Hash { fields, .. } => fields
            .iter()
            .map(|field| (format!("field `{}`", field.name), text(&field.codec)))
            .collect(),
    }
}

/// A codec as the schema writes it, a parameter by its type (its name may change freely).
fn codec_text(schema: &KeySchema, codec: &Codec) -> String {
    match codec {
        Codec::Json(name) => format!("json({name})"),
        Codec::Proto(name) => format!("proto({name})"),
        Codec::Text => "text".into(),
        Codec::Bytes => "bytes".into(),
        Codec::Int => "int".into(),
        Codec::Float => "float".into(),
        Codec::Param(index) => format!("a parameter of type {}", param_type_text(&schema.params[*index].ty)),
        Codec::Custom(path) => format!("codec({path})"),
        Codec::Lz4(inner) => format!("lz4({})", codec_text(schema, inner)),
    }
}

fn param_type_text(ty: &ParamType) -> String {
    match ty {
        ParamType::Text => "text".into(),
        ParamType::Ident => "ident".into(),
        ParamType::Int => "int".into(),
        ParamType::Uuid => "uuid".into(),
        ParamType::UnixSeconds => "unix_seconds".into(),
        ParamType::Ip => "ip".into(),
        ParamType::Enum { variants, .. } => format!("enum({})", variants.join(", ")),
    }
}

/// A value of each parameter of `key`, as a person writes it.
fn sample_values(schema: &KeySchema, key: &KeyDef) -> Vec<(String, String)> {
    key.pattern
        .params()
        .map(|p| (schema.params[p].name.clone(), sample_value(schema, p)))
        .collect()
}

fn sample_value(schema: &KeySchema, index: usize) -> String {
    let param = &schema.params[index];
    let candidates: Vec<String> = match &param.ty {
        ParamType::Text | ParamType::Ident => vec!["a1".into(), "b2".into()],
        ParamType::Int => vec!["42".into(), "43".into()],
        ParamType::Uuid => vec!["0f8fad5b-d9cb-469f-a165-70867728950e".into()],
        ParamType::UnixSeconds => vec!["1700000000".into()],
        ParamType::Ip => vec!["10.0.0.1".into()],
        ParamType::Enum { variants, .. } => variants.clone(),
    };
    candidates
        .iter()
        .find(|value| !param.except.iter().any(|e| e.eq_ignore_ascii_case(value)))
        .or(candidates.first())
        .cloned()
        .unwrap_or_default()
}

/// The old sample's values for the new definition's parameters, by name; `None` when the new
/// definition has a parameter the old one has not, or one whose type cannot take the value.
fn sample_values_for(
    from: &KeySchema,
    key: &KeyDef,
    to: &KeySchema,
    successor: &KeyDef,
) -> Option<Vec<(String, String)>> {
    let old = sample_values(from, key);
    successor
        .pattern
        .params()
        .map(|p| {
            let name = &to.params[p].name;
            old.iter().find(|(n, _)| n == name).cloned()
        })
        .collect()
}
