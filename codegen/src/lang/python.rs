//! The Python emitter: one typed module for Python 3.9+, standard library only.

use super::{quoted, words, Kind, Package, PackageFile, TtlShape};
use crate::names::pascal;
use keyschema::model::{LayoutPart, Param, ParamType, PatternPart};
use keyschema::SegmentTest;
use std::fmt::Write as _;

const RUNTIME: &str = include_str!("runtime/keys.py");

macro_rules! line {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield", "self", "w", "key", "values",
];

/// Type names the runtime declares.
const TYPES: &[&str] = &[
    "Key",
    "Ttl",
    "Value",
    "Match",
    "Layout",
    "FormatError",
    "ParseError",
    "TtlError",
];

fn string(text: &str) -> String {
    quoted(text, |c, out| {
        let _ = if (c as u32) < 0x80 {
            write!(out, "\\x{:02x}", c as u32)
        } else if matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}') || c.is_control() {
            write!(out, "\\u{:04x}", c as u32)
        } else {
            write!(out, "{c}")
        };
    })
}

fn snake_name(name: &str) -> String {
    let mut out = words(name).join("_");
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'v');
    }
    if KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

fn constant(name: &str) -> String {
    let out = words(name).join("_").to_uppercase();
    match out.as_str() {
        "" | "KEYSPACE" | "FINGERPRINT" | "MAX_KEY_LEN" => format!("{out}_KEY"),
        _ if out.starts_with(|c: char| c.is_ascii_digit()) => format!("K_{out}"),
        _ => out,
    }
}

fn docstring(out: &mut String, indent: &str, text: &str) {
    let text = text.replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\"");
    line!(out, "{indent}\"\"\"{}\"\"\"", text.trim());
}

struct Names {
    types: Vec<Option<String>>,
    keys: Vec<String>,
}

impl Names {
    fn new(package: &Package<'_>) -> Self {
        let keys = package.keys.iter().map(|key| constant(&key.def.name)).collect();
        let types = super::param_types(package, pascal, |name| TYPES.contains(&name), "Param");
        Self { types, keys }
    }

    fn value_type(&self, package: &Package<'_>, index: usize) -> String {
        if let Some(name) = &self.types[index] {
            return name.clone();
        }
        simple_type(&package.schema.params[index]).to_string()
    }
}

fn simple_type(param: &Param) -> &'static str {
    match Kind::of(&param.ty) {
        Kind::Int | Kind::UnixSeconds => "int",
        _ => "str",
    }
}

fn method(kind: Kind) -> &'static str {
    match kind {
        Kind::UnixSeconds => "unix_seconds",
        // `int` would hide the type in the builder's later annotations.
        Kind::Int => "integer",
        other => other.method(),
    }
}

pub(super) fn emit(package: &Package<'_>) -> Vec<PackageFile> {
    let names = Names::new(package);
    let schema = package.schema;
    let mut out = String::new();
    line!(out, "# {}", package.header());
    docstring(
        &mut out,
        "",
        &format!(
            "The keys of the {} keyspace as {} declares them: a typed formatter per key with keyschema's injective escaping, `parse` to read a key back, and each key's Redis type, codec, fields, TTL and cluster slot group.",
            schema.keyspace, package.source_name
        ),
    );
    line!(out, "");
    line!(out, "import ipaddress");
    line!(out, "import os");
    line!(out, "import re");
    line!(out, "from dataclasses import dataclass");
    line!(
        out,
        "from typing import Callable, Dict, Final, List, Literal, Mapping, NamedTuple, NoReturn, Optional, Sequence, Tuple, Union, cast"
    );
    line!(out, "");
    line!(out, "KEYSPACE: Final = {}", string(&schema.keyspace));
    docstring(&mut out, "", "The schema's keyspace name.");
    line!(out, "FINGERPRINT: Final = \"{}\"", package.fingerprint);
    docstring(
        &mut out,
        "",
        "Identifies the schema's model (the Rust store checks the same value).",
    );
    line!(out, "_SEPARATOR: Final = {}", string(&schema.separator.to_string()));
    out.push_str(RUNTIME);
    for (index, param) in schema.params.iter().enumerate() {
        param_type(&mut out, package, &names, index, param);
    }
    for (index, key) in package.keys.iter().enumerate() {
        key_api(&mut out, package, &names, index, key);
    }
    format_values(&mut out, package, &names);
    tables(&mut out, package, &names);
    vec![PackageFile {
        name: format!("{}_keys.py", package.stem),
        content: out,
    }]
}

fn param_type(out: &mut String, package: &Package<'_>, names: &Names, index: usize, param: &Param) {
    let Some(ty) = &names.types[index] else {
        return;
    };
    if param.layouts.is_empty() {
        if let ParamType::Enum { variants, .. } = &param.ty {
            let variants: Vec<String> = variants.iter().map(|v| string(v)).collect();
            line!(out, "");
            line!(out, "");
            line!(out, "{ty} = Literal[{}]", variants.join(", "));
            docstring(out, "", &format!("A value of the {} parameter.", param.name));
        }
        return;
    }
    let mut alternatives = vec![simple_type(param).to_string()];
    for (i, layout) in param.layouts.iter().enumerate() {
        let class = format!("{ty}Layout{}", i + 1);
        line!(out, "");
        line!(out, "");
        line!(out, "@dataclass(frozen=True)");
        line!(out, "class {class}:");
        docstring(
            out,
            "    ",
            &format!("{} in the layout {}.", param.name, layout_text(package, layout)),
        );
        line!(out, "");
        for piece in layout {
            if let LayoutPart::Param(q) = piece {
                line!(
                    out,
                    "    {}: {}",
                    snake_name(package.param_name(*q)),
                    names.value_type(package, *q)
                );
            }
        }
        alternatives.push(class);
    }
    line!(out, "");
    line!(out, "");
    line!(out, "{ty} = Union[{}]", alternatives.join(", "));
    docstring(
        out,
        "",
        &format!(
            "A value of the {} parameter: a {}, or one of its layouts.",
            param.name,
            param.ty.name()
        ),
    );
    line!(out, "");
    line!(out, "");
    line!(
        out,
        "def _write_{}(w: _Builder, p: int, value: {ty}) -> None:",
        snake_name(&param.name)
    );
    for (i, layout) in param.layouts.iter().enumerate() {
        line!(out, "    if isinstance(value, {ty}Layout{}):", i + 1);
        for piece in layout {
            match piece {
                LayoutPart::Literal(text) => line!(out, "        w.literal({})", string(text)),
                LayoutPart::Param(q) => write_value(
                    out,
                    "        ",
                    package,
                    *q,
                    &format!("value.{}", snake_name(package.param_name(*q))),
                    &q.to_string(),
                ),
            }
        }
        line!(out, "        return");
    }
    line!(out, "    w.{}(p, value)", method(Kind::of(&param.ty)));
    line!(out, "");
    line!(out, "");
    line!(
        out,
        "def _{}_from(key: Key, values: Mapping[str, Value], p: int) -> {ty}:",
        snake_name(&param.name)
    );
    line!(out, "    value = _layout_of(key, values, p)");
    line!(out, "    if isinstance(value, str):");
    line!(out, "        return {}", typed(package, names, index, "value"));
    for (i, layout) in param.layouts.iter().enumerate() {
        let args: Vec<String> = layout
            .iter()
            .filter_map(|piece| match piece {
                LayoutPart::Param(q) => Some(typed(package, names, *q, &format!("_part_of(key, value.parts, {q})"))),
                LayoutPart::Literal(_) => None,
            })
            .collect();
        line!(out, "    if value.layout == {}:", i + 1);
        line!(out, "        return {ty}Layout{}({})", i + 1, args.join(", "));
    }
    line!(
        out,
        "    raise FormatError(key.name, _PARAMS[p].name, f\"no layout {{value.layout}}\")"
    );
}

/// `text` (an expression giving a text form) as a value of simple parameter `index`.
fn typed(package: &Package<'_>, names: &Names, index: usize, text: &str) -> String {
    let param = &package.schema.params[index];
    match Kind::of(&param.ty) {
        Kind::Int | Kind::UnixSeconds => format!("_int_of(key, {index}, {text})"),
        Kind::Enum if param.layouts.is_empty() => format!("cast({}, {text})", names.value_type(package, index)),
        _ => text.to_string(),
    }
}

fn layout_text(package: &Package<'_>, layout: &[LayoutPart]) -> String {
    layout
        .iter()
        .map(|piece| match piece {
            LayoutPart::Literal(text) => text.clone(),
            LayoutPart::Param(p) => format!("<{}>", package.param_name(*p)),
        })
        .collect()
}

fn write_value(out: &mut String, indent: &str, package: &Package<'_>, index: usize, expr: &str, p: &str) {
    let param = &package.schema.params[index];
    if param.layouts.is_empty() {
        line!(out, "{indent}w.{}({p}, {expr})", method(Kind::of(&param.ty)));
    } else {
        line!(out, "{indent}_write_{}(w, {p}, {expr})", snake_name(&param.name));
    }
}

fn key_api(out: &mut String, package: &Package<'_>, names: &Names, index: usize, key: &super::KeyItem<'_>) {
    let def = key.def;
    let class = format!("_{}Key", pascal(&def.name));
    let args: Vec<String> = key
        .placeholders
        .iter()
        .map(|&p| {
            format!(
                ", {}: {}",
                snake_name(package.param_name(p)),
                names.value_type(package, p)
            )
        })
        .collect();
    line!(out, "");
    line!(out, "");
    line!(out, "class {class}(Key):");
    line!(out, "    __slots__ = ()");
    line!(out, "");
    line!(out, "    def format(self{}) -> str:", args.concat());
    docstring(out, "        ", &format!("The key {}.", def.pattern.template));
    line!(out, "        w = _Builder(self)");
    for part in &def.pattern.parts {
        match part {
            PatternPart::Literal(text) => line!(out, "        w.literal({})", string(text)),
            PatternPart::Param(p) => write_value(
                out,
                "        ",
                package,
                *p,
                &snake_name(package.param_name(*p)),
                &p.to_string(),
            ),
        }
    }
    line!(out, "        return w.finish()");
    line!(out, "");
    line!(out, "");
    line!(out, "{}: Final = {class}(", names.keys[index]);
    line!(out, "    {index},");
    line!(out, "    {},", string(&def.name));
    line!(out, "    {},", string(&def.pattern.template));
    line!(out, "    {},", string(def.redis_type.name()));
    line!(out, "    {},", string(&key.codec));
    let fields: Vec<String> = key.fields.iter().map(|f| string(f)).collect();
    line!(out, "    {},", tuple(&fields));
    line!(out, "    {},", ttl(&TtlShape::of(&def.ttl)));
    line!(
        out,
        "    {},",
        key.slot_group.as_deref().map_or_else(|| "None".to_string(), string)
    );
    line!(out, "    {},", string(&def.purpose));
    let params: Vec<String> = key.placeholders.iter().map(usize::to_string).collect();
    line!(out, "    {},", tuple(&params));
    line!(out, ")");
    docstring(
        out,
        "",
        &format!(
            "{}: {}. {}",
            def.pattern.template,
            def.purpose.trim_end_matches('.'),
            key.summary
        ),
    );
}

fn format_values(out: &mut String, package: &Package<'_>, names: &Names) {
    line!(out, "");
    line!(out, "");
    line!(out, "def _format_values(key: Key, values: Mapping[str, Value]) -> str:");
    docstring(
        out,
        "    ",
        "Reads format_values' text forms into typed values and formats the key with them.",
    );
    line!(out, "    index = key._index");
    for (index, key) in package.keys.iter().enumerate() {
        let args: Vec<String> = key
            .placeholders
            .iter()
            .map(|&p| {
                if package.schema.params[p].layouts.is_empty() {
                    typed(package, names, p, &format!("_simple_of(key, values, {p})"))
                } else {
                    format!("_{}_from(key, values, {p})", snake_name(package.param_name(p)))
                }
            })
            .collect();
        line!(out, "    if index == {index}:");
        line!(out, "        return {}.format({})", names.keys[index], args.join(", "));
    }
    line!(
        out,
        "    raise FormatError(key.name, None, \"not a key of this schema\")"
    );
}

fn ttl(shape: &TtlShape<'_>) -> String {
    match shape {
        TtlShape::None => "Ttl(\"none\")".into(),
        TtlShape::Fixed(millis) => format!("Ttl(\"fixed\", {millis})"),
        TtlShape::Env {
            var,
            default,
            unit,
            unit_name,
        } => {
            format!(
                "Ttl(\"env\", {default}, {}, {unit}, {})",
                string(var),
                string(unit_name)
            )
        }
        TtlShape::Multiple { factor, base } => format!("Ttl(\"multiple\", factor={factor}, base={})", ttl(base)),
        TtlShape::PerWrite { max } => format!("Ttl(\"per_write\", base={})", ttl(max)),
    }
}

fn tuple(items: &[String]) -> String {
    match items {
        [] => "()".into(),
        [one] => format!("({one},)"),
        many => format!("({})", many.join(", ")),
    }
}

fn pieces(parts: &[LayoutPart]) -> String {
    let items: Vec<String> = parts
        .iter()
        .map(|piece| match piece {
            LayoutPart::Literal(text) => string(text),
            LayoutPart::Param(p) => p.to_string(),
        })
        .collect();
    tuple(&items)
}

fn tables(out: &mut String, package: &Package<'_>, names: &Names) {
    let strings = |items: &[String]| tuple(&items.iter().map(|s| string(s)).collect::<Vec<_>>());
    line!(out, "");
    line!(out, "");
    line!(out, "_PARAMS: Final[Tuple[_Param, ...]] = (");
    for param in &package.schema.params {
        let (variant_names, forms) = match &param.ty {
            ParamType::Enum { variants, case } => (variants.clone(), variants.iter().map(|v| case.apply(v)).collect()),
            _ => (Vec::new(), Vec::new()),
        };
        let layouts: Vec<String> = param.layouts.iter().map(|l| pieces(l)).collect();
        line!(
            out,
            "    _Param({}, {}, {}, {}, {}, {}, {}),",
            string(&param.name),
            Kind::of(&param.ty).code(),
            strings(&variant_names),
            strings(&forms),
            strings(&param.except),
            if param.spans { "True" } else { "False" },
            tuple(&layouts)
        );
    }
    line!(out, ")");
    line!(out, "");
    line!(out, "_KEYS: Final[Tuple[Key, ...]] = {}", tuple(&names.keys));
    line!(out, "KEYS: Final[Tuple[Key, ...]] = _KEYS");
    docstring(out, "", "Every key definition of the schema, in declaration order.");
    line!(out, "");
    line!(out, "");
    line!(out, "def key_named(name: str) -> Optional[Key]:");
    docstring(out, "    ", "The key definition with code name `name`, or None.");
    line!(out, "    return next((key for key in _KEYS if key.name == name), None)");
    line!(out, "");
    line!(out, "");
    line!(
        out,
        "# The matcher's trie: per node, literal edges, parameter tests (a parameter, or pieces), spanning"
    );
    line!(out, "# parameters, the variant ending there.");
    line!(out, "_Node = Tuple[Tuple[Tuple[str, int], ...], Tuple[Tuple[Union[int, Tuple[Union[str, int], ...]], int], ...], Tuple[Tuple[int, int], ...], int]");
    line!(out, "_NODES: Final[Tuple[_Node, ...]] = (");
    for node in &package.table.nodes {
        let literals: Vec<String> = node
            .literals
            .iter()
            .map(|(t, c)| format!("({}, {c})", string(t)))
            .collect();
        let tests: Vec<String> = node
            .params
            .iter()
            .map(|(test, c)| match test {
                SegmentTest::Param(p) => format!("({p}, {c})"),
                SegmentTest::Pieces(parts) => format!("({}, {c})", pieces(parts)),
            })
            .collect();
        let spanning: Vec<String> = node.spanning.iter().map(|(p, c)| format!("({p}, {c})")).collect();
        line!(
            out,
            "    ({}, {}, {}, {}),",
            tuple(&literals),
            tuple(&tests),
            tuple(&spanning),
            node.terminal.map_or(-1, |v| v as i64)
        );
    }
    line!(out, ")");
    line!(out, "");
    line!(
        out,
        "# Per variant: its key, and per placeholder the layout used (-1: the simple form)."
    );
    line!(out, "_VARIANTS: Final[Tuple[Tuple[int, Tuple[int, ...]], ...]] = (");
    for variant in &package.table.variants {
        let choices: Vec<String> = variant
            .choices
            .iter()
            .map(|c| c.map_or(-1, |c| c as i64).to_string())
            .collect();
        line!(out, "    ({}, {}),", variant.key, tuple(&choices));
    }
    line!(out, ")");
}
