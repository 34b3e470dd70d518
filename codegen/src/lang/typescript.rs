//! The TypeScript emitter: an ES module (`cordum-keys.js`) and its declarations
//! (`cordum-keys.d.ts`), with no dependencies.

use super::{quoted, words, Kind, Package, PackageFile, TtlShape};
use crate::names::pascal;
use keyschema::model::{LayoutPart, Param, ParamType, PatternPart};
use keyschema::SegmentTest;
use std::fmt::Write as _;

const RUNTIME: &str = include_str!("runtime/keys.js");

macro_rules! line {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

const RESERVED: &[&str] = &[
    "arguments",
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "eval",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "interface",
    "let",
    "new",
    "null",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "static",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
    // The runtime's own names.
    "parse",
    "slot",
    "keys",
    "keyNamed",
    "keyspace",
    "fingerprint",
    "w",
    "values",
    "value",
    "escapeValue",
    "unescapeValue",
    "decode",
    "walk",
    "typed",
    "simpleOf",
    "layoutOf",
    "partOf",
    "describe",
    "encoder",
];

/// The runtime functions a key's `format` calls.
const BODY_NAMES: &[&str] = &[
    "finish",
    "fail",
    "encodeText",
    "encodeIdent",
    "encodeInt",
    "encodeUuid",
    "encodeEnum",
    "encodeUnixSeconds",
    "encodeIp",
    "PARAMS",
    "KEYS",
];

/// Type names the runtime declares.
const TYPES: &[&str] = &[
    "Key",
    "Ttl",
    "Value",
    "Match",
    "FormatError",
    "ParseError",
    "TtlError",
    "Builder",
    "Uuid",
];

fn string(text: &str) -> String {
    quoted(text, |c, out| {
        let _ = if (c as u32) < 0x80 || c == '\u{2028}' || c == '\u{2029}' {
            write!(out, "\\u{:04x}", c as u32)
        } else {
            write!(out, "{c}")
        };
    })
}

/// `job_state` → `jobState`; a schema name that is an identifier already (`jobID`) stays.
fn camel(name: &str) -> String {
    let plain = name.chars().all(|c| c.is_ascii_alphanumeric()) && name.starts_with(|c: char| c.is_ascii_lowercase());
    let mut out = if plain {
        name.to_string()
    } else {
        let mut out = String::new();
        for (i, word) in words(name).iter().enumerate() {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                out.push(if i == 0 { first } else { first.to_ascii_uppercase() });
                out.push_str(chars.as_str());
            }
        }
        out
    };
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'v');
    }
    if RESERVED.contains(&out.as_str()) {
        out.push_str("Key");
    }
    out
}

fn comment(out: &mut String, indent: &str, text: &str) {
    let text = text.replace("*/", "* /");
    line!(out, "{indent}/** {} */", text.trim());
}

struct Names {
    types: Vec<Option<String>>,
    keys: Vec<String>,
}

impl Names {
    fn new(package: &Package<'_>) -> Self {
        let keys = package.keys.iter().map(|key| camel(&key.def.name)).collect();
        let types = super::param_types(package, pascal, |name| TYPES.contains(&name), "Param");
        Self { types, keys }
    }

    /// The name of parameter `name` as an argument of a key's `format`: never a name the body
    /// uses (a key, a runtime function).
    fn arg(&self, name: &str) -> String {
        let arg = camel(name);
        if self.keys.contains(&arg) || BODY_NAMES.contains(&arg.as_str()) {
            format!("{arg}Value")
        } else {
            arg
        }
    }

    /// The TypeScript type of a value of parameter `index`.
    fn value_type(&self, package: &Package<'_>, index: usize) -> String {
        if let Some(name) = &self.types[index] {
            return name.clone();
        }
        simple_type(&package.schema.params[index]).to_string()
    }
}

fn simple_type(param: &Param) -> &'static str {
    match Kind::of(&param.ty) {
        Kind::Int | Kind::UnixSeconds => "number | bigint",
        Kind::Uuid => "string | Uuid",
        _ => "string",
    }
}

pub(super) fn emit(package: &Package<'_>) -> Vec<PackageFile> {
    let names = Names::new(package);
    let base = format!("{}-keys", package.stem.replace('_', "-"));
    vec![
        PackageFile {
            name: format!("{base}.js"),
            content: module(package, &names),
        },
        PackageFile {
            name: format!("{base}.d.ts"),
            content: declarations(package, &names),
        },
    ]
}

fn intro(out: &mut String, package: &Package<'_>) {
    line!(out, "// {}", package.header());
    line!(out, "");
    line!(
        out,
        "/** The keys of the {} keyspace as {} declares them: a typed formatter per key with keyschema's injective escaping, `parse` to read a key back, and each key's Redis type, codec, fields, TTL and cluster slot group. @module */",
        package.schema.keyspace,
        package.source_name
    );
    line!(out, "");
}

fn module(package: &Package<'_>, names: &Names) -> String {
    let schema = package.schema;
    let mut out = String::new();
    intro(&mut out, package);
    line!(out, "/** The schema's keyspace name. */");
    line!(out, "export const keyspace = {};", string(&schema.keyspace));
    line!(out, "");
    line!(
        out,
        "/** Identifies the schema's model (the Rust store checks the same value). */"
    );
    line!(out, "export const fingerprint = \"{}\";", package.fingerprint);
    line!(out, "");
    line!(out, "const SEPARATOR = {};", schema.separator as u32);
    line!(out, "const SEPARATOR_TEXT = {};", string(&schema.separator.to_string()));
    out.push_str(RUNTIME);
    for (index, param) in schema.params.iter().enumerate() {
        if !param.layouts.is_empty() {
            composite(&mut out, package, names, index, param);
        }
    }
    for (index, key) in package.keys.iter().enumerate() {
        let var = &names.keys[index];
        let def = key.def;
        line!(out, "");
        comment(
            &mut out,
            "",
            &format!(
                "{}: {}. {}",
                def.pattern.template,
                def.purpose.trim_end_matches('.'),
                key.summary
            ),
        );
        let args: Vec<String> = key
            .placeholders
            .iter()
            .map(|&p| names.arg(package.param_name(p)))
            .collect();
        line!(out, "export const {var} = new Key(");
        line!(out, "  {index},");
        line!(out, "  {},", key_row(key));
        let text: Vec<String> = def
            .pattern
            .parts
            .iter()
            .map(|part| match part {
                PatternPart::Literal(text) => string(text),
                PatternPart::Param(p) => encode(package, names, *p, &names.arg(package.param_name(*p)), var, *p),
            })
            .collect();
        let text = if text.is_empty() {
            "\"\"".to_string()
        } else {
            text.join(" + ")
        };
        line!(out, "  ({}) => finish({var}, {text}),", args.join(", "));
        let from: Vec<String> = key
            .placeholders
            .iter()
            .map(|&p| {
                if package.schema.params[p].layouts.is_empty() {
                    format!("typed({var}, {p}, simpleOf({var}, values, {p}))")
                } else {
                    format!("{}From({var}, values, {p})", camel(package.param_name(p)))
                }
            })
            .collect();
        line!(out, "  (values) => {var}.format({}),", from.join(", "));
        line!(out, ");");
    }
    line!(out, "");
    line!(out, "/** Every key definition of the schema, in declaration order. */");
    line!(out, "export const keys = Object.freeze([{}]);", names.keys.join(", "));
    line!(out, "");
    line!(out, "/** The key definition with code name `name`, or `undefined`. */");
    line!(out, "export function keyNamed(name) {{");
    line!(out, "  return keys.find((key) => key.name === name);");
    line!(out, "}}");
    line!(out, "");
    line!(out, "const KEYS = keys;");
    tables(&mut out, package);
    out
}

/// The expression encoding `expr`, a value of parameter `index`, into its key form; errors name
/// `key` and parameter `p`.
fn encode(package: &Package<'_>, names: &Names, index: usize, expr: &str, key: &str, p: usize) -> String {
    let param = &package.schema.params[index];
    match &names.types[index] {
        Some(ty) if !param.layouts.is_empty() => format!("encode{ty}({key}, {p}, {expr})"),
        _ => encode_simple(param, key, &p.to_string(), expr),
    }
}

/// The expression encoding `expr`, a simple value of `param`.
fn encode_simple(param: &Param, key: &str, p: &str, expr: &str) -> String {
    let function = match Kind::of(&param.ty) {
        Kind::Text => "Text",
        Kind::Ident => "Ident",
        Kind::Int => "Int",
        Kind::Uuid => "Uuid",
        Kind::Enum => "Enum",
        Kind::UnixSeconds => "UnixSeconds",
        Kind::Ip => "Ip",
    };
    format!("encode{function}({key}, {p}, {expr})")
}

fn composite(out: &mut String, package: &Package<'_>, names: &Names, index: usize, param: &Param) {
    let ty = names.types[index].as_deref().unwrap_or_default();
    line!(out, "");
    line!(out, "function encode{ty}(key, p, value) {{");
    // A `Uuid` is a simple value too (the encoder checks it is a real one).
    let uuid = if Kind::of(&param.ty) == Kind::Uuid {
        " || value instanceof Uuid"
    } else {
        ""
    };
    line!(
        out,
        "  if (typeof value === \"string\" || typeof value === \"number\" || typeof value === \"bigint\"{uuid}) {{"
    );
    line!(out, "    return {};", encode_simple(param, "key", "p", "value"));
    line!(out, "  }}");
    line!(out, "  switch (value?.layout) {{");
    for (i, layout) in param.layouts.iter().enumerate() {
        line!(out, "    case {}:", i + 1);
        let text: Vec<String> = layout
            .iter()
            .map(|piece| match piece {
                LayoutPart::Literal(text) => string(text),
                LayoutPart::Param(q) => encode(
                    package,
                    names,
                    *q,
                    &format!("value.{}", camel(package.param_name(*q))),
                    "key",
                    *q,
                ),
            })
            .collect();
        line!(out, "      return {};", text.join(" + "));
    }
    line!(out, "  }}");
    line!(
        out,
        "  return fail(key, p, `${{describe(value)}} is not a value or a layout of ${{PARAMS[p].name}}`);"
    );
    line!(out, "}}");
    line!(out, "");
    line!(out, "function {}From(key, values, p) {{", camel(&param.name));
    line!(out, "  const value = layoutOf(key, values, p);");
    line!(out, "  if (typeof value === \"string\") return typed(key, p, value);");
    line!(out, "  switch (value.layout) {{");
    for (i, layout) in param.layouts.iter().enumerate() {
        let fields: Vec<String> = layout
            .iter()
            .filter_map(|piece| match piece {
                LayoutPart::Param(q) => Some(format!(
                    "{}: typed(key, {q}, partOf(key, value.parts, {q}))",
                    camel(package.param_name(*q))
                )),
                LayoutPart::Literal(_) => None,
            })
            .collect();
        line!(out, "    case {}:", i + 1);
        line!(out, "      return {{ layout: {}, {} }};", i + 1, fields.join(", "));
    }
    line!(out, "  }}");
    line!(
        out,
        "  throw new FormatError(key.name, PARAMS[p].name, `no layout ${{value.layout}}`);"
    );
    line!(out, "}}");
}

fn strings(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| string(s)).collect();
    format!("[{}]", items.join(", "))
}

fn ttl(shape: &TtlShape<'_>) -> String {
    match shape {
        TtlShape::None => "[\"none\", 0n, null, 0n, null, 0n, null]".into(),
        TtlShape::Fixed(millis) => format!("[\"fixed\", {millis}n, null, 0n, null, 0n, null]"),
        TtlShape::Env {
            var,
            default,
            unit,
            unit_name,
        } => {
            format!(
                "[\"env\", {default}n, {}, {unit}n, {}, 0n, null]",
                string(var),
                string(unit_name)
            )
        }
        TtlShape::Multiple { factor, base } => format!("[\"multiple\", 0n, null, 0n, null, {factor}n, {}]", ttl(base)),
        TtlShape::PerWrite { max } => format!("[\"per_write\", 0n, null, 0n, null, 0n, {}]", ttl(max)),
    }
}

fn key_row(key: &super::KeyItem<'_>) -> String {
    let def = key.def;
    let fields: Vec<String> = key.fields.iter().map(|f| f.to_string()).collect();
    let placeholders: Vec<String> = key.placeholders.iter().map(usize::to_string).collect();
    format!(
        "[{}, {}, {}, {}, {}, {}, {}, {}, [{}]]",
        string(&def.name),
        string(&def.pattern.template),
        string(def.redis_type.name()),
        string(&key.codec),
        strings(&fields),
        ttl(&TtlShape::of(&def.ttl)),
        key.slot_group.as_deref().map_or_else(|| "null".to_string(), string),
        string(&def.purpose),
        placeholders.join(", ")
    )
}

fn pieces(parts: &[LayoutPart]) -> String {
    let items: Vec<String> = parts
        .iter()
        .map(|piece| match piece {
            LayoutPart::Literal(text) => string(text),
            LayoutPart::Param(p) => p.to_string(),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn tables(out: &mut String, package: &Package<'_>) {
    line!(out, "");
    line!(
        out,
        "// Per parameter: name, kind, variants as declared, as keys write them, excluded values, spans, layouts."
    );
    line!(out, "const PARAMS = [");
    for param in &package.schema.params {
        let (names, forms) = match &param.ty {
            ParamType::Enum { variants, case } => (variants.clone(), variants.iter().map(|v| case.apply(v)).collect()),
            _ => (Vec::new(), Vec::new()),
        };
        let layouts: Vec<String> = param.layouts.iter().map(|l| pieces(l)).collect();
        line!(
            out,
            "  {{ name: {}, kind: {}, names: {}, forms: {}, except: {}, spans: {}, layouts: [{}] }},",
            string(&param.name),
            Kind::of(&param.ty).code(),
            strings(&names),
            strings(&forms),
            strings(&param.except),
            param.spans,
            layouts.join(", ")
        );
    }
    line!(out, "];");
    line!(out, "");
    line!(out, "// The matcher's trie: per node, literal edges, parameter tests (a parameter, or pieces), spanning parameters, the variant ending there.");
    line!(out, "const NODES = [");
    for node in &package.table.nodes {
        let literals: Vec<String> = node
            .literals
            .iter()
            .map(|(t, c)| format!("[{}, {c}]", string(t)))
            .collect();
        let tests: Vec<String> = node
            .params
            .iter()
            .map(|(test, c)| match test {
                SegmentTest::Param(p) => format!("[{p}, {c}]"),
                SegmentTest::Pieces(parts) => format!("[{}, {c}]", pieces(parts)),
            })
            .collect();
        let spanning: Vec<String> = node.spanning.iter().map(|(p, c)| format!("[{p}, {c}]")).collect();
        line!(
            out,
            "  [[{}], [{}], [{}], {}],",
            literals.join(", "),
            tests.join(", "),
            spanning.join(", "),
            node.terminal.map_or(-1, |v| v as i64)
        );
    }
    line!(out, "];");
    line!(out, "");
    line!(
        out,
        "// Per variant: its key, and per placeholder the layout used (-1: the simple form)."
    );
    line!(out, "const VARIANTS = [");
    for variant in &package.table.variants {
        let choices: Vec<String> = variant
            .choices
            .iter()
            .map(|c| c.map_or(-1, |c| c as i64).to_string())
            .collect();
        line!(out, "  [{}, [{}]],", variant.key, choices.join(", "));
    }
    line!(out, "];");
}

const DECLARATIONS: &str = r#"/** The longest key, in UTF-8 bytes, that keyschema formats. */
export declare const MAX_KEY_LEN: number;

/** Why a key could not be formatted. */
export declare class FormatError extends Error {
  readonly key: string;
  readonly param: string | null;
  readonly reason: string;
}

/**
 * A uuid checked once, where it enters the service (`Uuid.parse(request.jobId)`): a key formatted
 * from it does no check of it, so it costs a concatenation. A plain string is checked on every
 * format (lowercase and hyphenated).
 */
export declare class Uuid {
  #private;
  private constructor();
  /** The hyphenated form, in either case; a TypeError for anything else. */
  static parse(text: string): Uuid;
  /** Lowercase and hyphenated, as keys write it. */
  toString(): string;
  toJSON(): string;
}

/** Why a key matches no pattern of the schema. */
export declare class ParseError extends Error {
  readonly key: string;
  readonly reason: string;
}

/** Why an environment variable could not give a TTL. */
export declare class TtlError extends Error {
  readonly variable: string;
  readonly value: string;
  readonly reason: string;
}

/** A parameter's value in its text form: text as it is, an int in decimal, a uuid lowercase and
 * hyphenated, an enum variant by its declared name, an ip in canonical form; a composite
 * parameter's value in one of its layouts (1 for the first) with the layout's values. */
export type Value = string | { readonly layout: number; readonly parts: Readonly<Record<string, string>> };

/** How long a key lives. */
export interface Ttl {
  /** Whether keys under this TTL expire at all. */
  readonly expires: boolean;
  /** Whether each write chooses the TTL, up to the resolved bound. */
  readonly perWrite: boolean;
  /** The environment variable the TTL reads, or `null`. */
  readonly env: string | null;
  /** The TTL in milliseconds as the Rust store resolves it, `null` for a key that never expires;
   * `lookup` gives environment variables (the process's by default). Throws TtlError when a
   * variable's value is not a whole number of its unit, overflows, or is zero. */
  resolve(lookup?: (name: string) => string | undefined): bigint | null;
}

/** A key definition of the schema: its pattern, Redis type, codec, TTL and slot group. */
export interface Key {
  /** The key's code name (`job_state`). */
  readonly name: string;
  /** The pattern as declared (`job:state:<jobID>`). */
  readonly pattern: string;
  /** What Redis's TYPE answers for it. */
  readonly redisType: "string" | "hash" | "list" | "set" | "zset" | "stream";
  /** How its values are stored, as the schema writes it (`json(JobState)`). */
  readonly codec: string;
  /** The declared fields of a record hash, in order. */
  readonly fields: readonly string[];
  /** How long its keys live. */
  readonly ttl: Ttl;
  /** The hash tag shared by keys on one cluster slot (`{<jobID>}`), or `null`. */
  readonly slotGroup: string | null;
  /** What the key is for. */
  readonly purpose: string;
  /** Formats the key from values in their text forms, by parameter name. Throws FormatError. */
  formatValues(values: Readonly<Record<string, Value>>): string;
}

/** A key read back: which key definition, its values by parameter name, and its slot. */
export interface Match {
  readonly key: Key;
  readonly values: Readonly<Record<string, Value>>;
  readonly slot: number;
}

/** Reads a key back: the most specific pattern that matches it, its values and its slot. Throws
 * ParseError when none matches. */
export declare function parse(key: string): Match;

/** The Redis Cluster hash slot of `key`. */
export declare function slot(key: string): number;

/** Every key definition of the schema, in declaration order. */
export declare const keys: readonly Key[];

/** The key definition with code name `name`, or `undefined`. */
export declare function keyNamed(name: string): Key | undefined;
"#;

fn declarations(package: &Package<'_>, names: &Names) -> String {
    let schema = package.schema;
    let mut out = String::new();
    intro(&mut out, package);
    line!(out, "/** The schema's keyspace name. */");
    line!(out, "export declare const keyspace: {};", string(&schema.keyspace));
    line!(out, "");
    line!(
        out,
        "/** Identifies the schema's model (the Rust store checks the same value). */"
    );
    line!(out, "export declare const fingerprint: string;");
    line!(out, "");
    out.push_str(DECLARATIONS);
    for (index, param) in schema.params.iter().enumerate() {
        let Some(ty) = &names.types[index] else {
            continue;
        };
        line!(out, "");
        if param.layouts.is_empty() {
            if let ParamType::Enum { variants, .. } = &param.ty {
                comment(&mut out, "", &format!("A value of the {} parameter.", param.name));
                let variants: Vec<String> = variants.iter().map(|v| string(v)).collect();
                line!(out, "export type {ty} = {};", variants.join(" | "));
            }
            continue;
        }
        comment(
            &mut out,
            "",
            &format!(
                "A value of the {} parameter: a {}, or one of its layouts.",
                param.name,
                param.ty.name()
            ),
        );
        let mut alternatives = vec![simple_type(param).to_string()];
        for (i, layout) in param.layouts.iter().enumerate() {
            let mut fields = vec![format!("readonly layout: {}", i + 1)];
            for piece in layout {
                if let LayoutPart::Param(q) = piece {
                    fields.push(format!(
                        "readonly {}: {}",
                        camel(package.param_name(*q)),
                        names.value_type(package, *q)
                    ));
                }
            }
            alternatives.push(format!("{{ {} }}", fields.join("; ")));
        }
        line!(out, "export type {ty} = {};", alternatives.join(" | "));
    }
    for (index, key) in package.keys.iter().enumerate() {
        let def = key.def;
        line!(out, "");
        comment(
            &mut out,
            "",
            &format!(
                "{}: {}. {}",
                def.pattern.template,
                def.purpose.trim_end_matches('.'),
                key.summary
            ),
        );
        let args: Vec<String> = key
            .placeholders
            .iter()
            .map(|&p| format!("{}: {}", names.arg(package.param_name(p)), names.value_type(package, p)))
            .collect();
        let mut members = Vec::new();
        if !key.fields.is_empty() {
            let fields: Vec<String> = key.fields.iter().map(|f| string(f)).collect();
            members.push(format!("readonly fields: readonly [{}]", fields.join(", ")));
        }
        members.push(format!("format({}): string", args.join(", ")));
        line!(
            out,
            "export declare const {}: Key & {{ {} }};",
            names.keys[index],
            members.join("; ")
        );
    }
    out
}
