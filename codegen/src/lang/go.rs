//! The Go emitter: one `gofmt`-clean file, standard library only.

use super::{quoted, words, Kind, Package, TtlShape};
use crate::names::pascal;
use keyschema::model::{LayoutPart, Param, ParamType, PatternPart};
use keyschema::SegmentTest;
use std::fmt::Write as _;

const RUNTIME: &str = include_str!("runtime/keys.go");

macro_rules! line {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Words Go writes in capitals inside names (`jobID`, `ClientIP`).
const INITIALISMS: &[&str] = &[
    "id", "ip", "uuid", "url", "ttl", "api", "http", "json", "dlq", "sql", "tls",
];

const KEYWORDS: &[&str] = &[
    "break",
    "case",
    "chan",
    "const",
    "continue",
    "default",
    "defer",
    "else",
    "fallthrough",
    "for",
    "func",
    "go",
    "goto",
    "if",
    "import",
    "interface",
    "map",
    "package",
    "range",
    "return",
    "select",
    "struct",
    "switch",
    "type",
    "var",
];

/// Names the generated bodies use for themselves, or that would hide a type they use.
const TAKEN: &[&str] = &[
    "w", "k", "err", "values", "string", "int64", "error", "netip", "strconv", "strings",
];

fn exported(name: &str) -> String {
    let mut out = String::new();
    for word in words(name) {
        if INITIALISMS.contains(&word.as_str()) {
            out.push_str(&word.to_uppercase());
        } else {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                out.push(first.to_ascii_uppercase());
                out.push_str(chars.as_str());
            }
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

fn local(name: &str) -> String {
    let exported = exported(name);
    let first_word = words(name).into_iter().next().unwrap_or_default();
    let head = if INITIALISMS.contains(&first_word.as_str()) {
        first_word.len()
    } else {
        1
    };
    let mut out = exported[..head.min(exported.len())].to_lowercase();
    out.push_str(&exported[head.min(exported.len())..]);
    let numbered = out.len() > 1 && out.starts_with('v') && out[1..].bytes().all(|b| b.is_ascii_digit());
    if KEYWORDS.contains(&out.as_str()) || TAKEN.contains(&out.as_str()) || numbered {
        out.push_str("Value");
    }
    out
}

fn string(text: &str) -> String {
    quoted(text, |c, out| {
        let _ = if (c as u32) < 0x80 {
            write!(out, "\\x{:02x}", c as u32)
        } else {
            write!(out, "{c}")
        };
    })
}

fn comment(out: &mut String, indent: &str, text: &str) {
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split(' ') {
            if !line.is_empty() && line.len() + word.len() + 1 > 96 {
                line!(out, "{indent}// {line}");
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        line!(out, "{indent}// {}", line.trim_end());
    }
}

/// Rows of cells aligned as `gofmt` aligns them: each cell but the last padded to its column's
/// widest cell plus one space.
fn aligned(out: &mut String, indent: &str, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut text = String::from(indent);
        for (c, cell) in row.iter().enumerate() {
            text.push_str(cell);
            if c + 1 < row.len() {
                text.push_str(&" ".repeat(widths[c] - cell.chars().count() + 1));
            }
        }
        line!(out, "{text}");
    }
}

struct Names {
    /// Per parameter: its Go type name (enums and composite parameters only).
    types: Vec<Option<String>>,
    /// Per key: the variable and its type.
    keys: Vec<(String, String)>,
}

impl Names {
    fn new(package: &Package<'_>) -> Self {
        let keys: Vec<(String, String)> = package
            .keys
            .iter()
            .map(|key| {
                let name = exported(&key.def.name);
                let ty = format!("{name}Key");
                (name, ty)
            })
            .collect();
        let taken = |name: &str| keys.iter().any(|(var, ty)| var == name || ty == name);
        let types = super::param_types(package, exported, taken, "Value");
        Self { types, keys }
    }

    /// The Go type of a value of parameter `index`.
    fn value_type(&self, package: &Package<'_>, index: usize) -> String {
        if let Some(name) = &self.types[index] {
            return name.clone();
        }
        simple_type(&package.schema.params[index]).to_string()
    }
}

fn simple_type(param: &Param) -> &'static str {
    match Kind::of(&param.ty) {
        Kind::Text | Kind::Ident | Kind::Uuid | Kind::Enum => "string",
        Kind::Int | Kind::UnixSeconds => "int64",
        Kind::Ip => "netip.Addr",
    }
}

pub(super) fn emit(package: &Package<'_>) -> Vec<super::PackageFile> {
    let names = Names::new(package);
    let schema = package.schema;
    let go_package = format!("{}keys", package.stem.replace('_', ""));
    let mut out = String::new();
    line!(out, "// {}", package.header());
    line!(out, "");
    comment(
        &mut out,
        "",
        &format!(
            "Package {go_package} formats and parses the keys of the {} keyspace as {} declares them: a typed formatter per key with keyschema's injective escaping, Parse to read a key back, and each key's Redis type, codec, fields, TTL and cluster slot group.",
            schema.keyspace, package.source_name
        ),
    );
    line!(out, "package {go_package}");
    line!(out, "");
    line!(out, "import (");
    for import in ["math", "net/netip", "os", "strconv", "strings", "time", "unicode/utf8"] {
        line!(out, "\t\"{import}\"");
    }
    line!(out, ")");
    line!(out, "");
    line!(out, "// Keyspace is the schema's keyspace name.");
    line!(out, "const Keyspace = {}", string(&schema.keyspace));
    line!(out, "");
    line!(
        out,
        "// Fingerprint identifies the schema's model (the Rust store checks the same value)."
    );
    line!(out, "const Fingerprint = \"{}\"", package.fingerprint);
    line!(out, "");
    line!(out, "const separator = '{}'", schema.separator.escape_default());
    out.push_str(RUNTIME);
    for (index, param) in schema.params.iter().enumerate() {
        param_type(&mut out, package, &names, index, param);
    }
    for (index, key) in package.keys.iter().enumerate() {
        key_api(&mut out, package, &names, index, key);
    }
    format_values(&mut out, package, &names);
    tables(&mut out, package);
    vec![super::PackageFile {
        name: format!("{}_keys.go", package.stem),
        content: out,
    }]
}

fn param_type(out: &mut String, package: &Package<'_>, names: &Names, index: usize, param: &Param) {
    let Some(name) = &names.types[index] else {
        return;
    };
    line!(out, "");
    if let ParamType::Enum { variants, .. } = &param.ty {
        if param.layouts.is_empty() {
            comment(out, "", &format!("{name} is a value of the {} parameter.", param.name));
            line!(out, "type {name} string");
            line!(out, "");
            line!(out, "// The values of {name}.");
            line!(out, "const (");
            let rows: Vec<Vec<String>> = variants
                .iter()
                .map(|v| vec![format!("{name}{}", pascal(v)), name.clone(), format!("= {}", string(v))])
                .collect();
            aligned(out, "\t", &rows);
            line!(out, ")");
            return;
        }
    }
    // A composite parameter: its simple form, or one of its layouts.
    let layouts: Vec<String> = param
        .layouts
        .iter()
        .enumerate()
        .map(|(i, layout)| format!("the layout {} ({name}Layout{})", layout_text(package, layout), i + 1))
        .collect();
    comment(
        out,
        "",
        &format!(
            "{name} is a value of the {} parameter: {} ({name}Of), or {}.",
            param.name,
            param.ty.name(),
            layouts.join(", or ")
        ),
    );
    let mut fields = vec![vec!["layout".to_string(), "int".to_string()]];
    fields.push(vec!["simple".into(), simple_type(param).into()]);
    for part in layout_params(param) {
        fields.push(vec![local(package.param_name(part)), names.value_type(package, part)]);
    }
    line!(out, "type {name} struct {{");
    aligned(out, "\t", &fields);
    line!(out, "}}");
    line!(out, "");
    line!(out, "// {name}Of is a {} as {name}.", param.ty.name());
    line!(out, "func {name}Of(value {}) {name} {{", simple_type(param));
    line!(out, "\treturn {name}{{simple: value}}");
    line!(out, "}}");
    for (i, layout) in param.layouts.iter().enumerate() {
        let args: Vec<String> = layout
            .iter()
            .filter_map(|p| match p {
                LayoutPart::Param(p) => Some(format!(
                    "{} {}",
                    local(package.param_name(*p)),
                    names.value_type(package, *p)
                )),
                LayoutPart::Literal(_) => None,
            })
            .collect();
        let sets: Vec<String> = layout
            .iter()
            .filter_map(|p| match p {
                LayoutPart::Param(p) => Some(format!("{0}: {0}", local(package.param_name(*p)))),
                LayoutPart::Literal(_) => None,
            })
            .collect();
        line!(out, "");
        line!(
            out,
            "// {name}Layout{} is {name} in the layout {}.",
            i + 1,
            layout_text(package, layout)
        );
        line!(out, "func {name}Layout{}({}) {name} {{", i + 1, args.join(", "));
        line!(out, "\treturn {name}{{layout: {}, {}}}", i + 1, sets.join(", "));
        line!(out, "}}");
    }
    line!(out, "");
    line!(out, "func (v {name}) encode(k *Key, p int) (string, error) {{");
    line!(out, "\tswitch v.layout {{");
    for (i, layout) in param.layouts.iter().enumerate() {
        line!(out, "\tcase {}:", i + 1);
        let parts = encode_parts(
            out,
            "\t\t",
            package,
            "k",
            layout.iter().map(|piece| match piece {
                LayoutPart::Literal(text) => Piece::Literal(text),
                LayoutPart::Param(p) => Piece::Value(*p, format!("v.{}", local(package.param_name(*p))), p.to_string()),
            }),
        );
        line!(out, "\t\tformatted := {parts}");
        line!(out, "\t\treturn formatted, nil");
    }
    line!(out, "\t}}");
    line!(
        out,
        "\treturn encode{}(k, p, v.simple)",
        kind_function(Kind::of(&param.ty))
    );
    line!(out, "}}");
    // Reading FormatValues' text forms.
    line!(out, "");
    line!(
        out,
        "func {}From(k *Key, values map[string]Value, p int) ({name}, error) {{",
        local(&param.name)
    );
    line!(out, "\tv, err := valueOf(k, values, p)");
    line!(out, "\tif err == nil {{");
    line!(out, "\t\terr = layoutOf(k, p, v)");
    line!(out, "\t}}");
    line!(out, "\tif err != nil {{");
    line!(out, "\t\treturn {name}{{}}, err");
    line!(out, "\t}}");
    line!(out, "\tswitch v.Layout {{");
    for (i, layout) in param.layouts.iter().enumerate() {
        line!(out, "\tcase {}:", i + 1);
        let mut args = Vec::new();
        for piece in layout {
            if let LayoutPart::Param(p) = piece {
                let var = format!("v{}", args.len());
                convert(
                    out,
                    "\t\t",
                    package,
                    *p,
                    &format!("partOf(k, v.Parts, {p})"),
                    &var,
                    &format!("{name}{{}}"),
                );
                args.push(typed_arg(package, names, *p, var));
            }
        }
        line!(out, "\t\treturn {name}Layout{}({}), nil", i + 1, args.join(", "));
    }
    line!(out, "\t}}");
    let simple_var = "v.Text";
    match Kind::of(&param.ty) {
        Kind::Int | Kind::UnixSeconds => {
            line!(out, "\tn, err := intOf(k, p, {simple_var})");
            line!(out, "\treturn {name}Of(n), err");
        }
        Kind::Ip => {
            line!(out, "\taddr, err := ipOf(k, p, {simple_var})");
            line!(out, "\treturn {name}Of(addr), err");
        }
        _ => line!(out, "\treturn {name}Of({simple_var}), nil"),
    }
    line!(out, "}}");
}

/// The parameters of a composite parameter's layouts, each once, in order.
fn layout_params(param: &Param) -> Vec<usize> {
    let mut seen = Vec::new();
    for layout in &param.layouts {
        for piece in layout {
            if let LayoutPart::Param(p) = piece {
                if !seen.contains(p) {
                    seen.push(*p);
                }
            }
        }
    }
    seen
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

/// A piece of a key or of a layout: literal text, or a value (parameter, expression, and the
/// parameter index errors name).
enum Piece<'t> {
    Literal(&'t str),
    Value(usize, String, String),
}

fn kind_function(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "Text",
        Kind::Ident => "Ident",
        Kind::Int => "Int",
        Kind::Uuid => "UUID",
        Kind::Enum => "Enum",
        Kind::UnixSeconds => "UnixSeconds",
        Kind::Ip => "IP",
    }
}

/// Statements encoding each value of `pieces` into `vN`, answering with an error; gives the
/// concatenation of the literals and the encoded values.
fn encode_parts<'t>(
    out: &mut String,
    indent: &str,
    package: &Package<'_>,
    key: &str,
    pieces: impl Iterator<Item = Piece<'t>>,
) -> String {
    let mut terms = Vec::new();
    let mut n = 0;
    for piece in pieces {
        match piece {
            Piece::Literal(text) => terms.push(string(text)),
            Piece::Value(index, expr, p) => {
                let param = &package.schema.params[index];
                let var = format!("v{n}");
                n += 1;
                if !param.layouts.is_empty() {
                    line!(out, "{indent}{var}, err := {expr}.encode({key}, {p})");
                } else if matches!(param.ty, ParamType::Enum { .. }) {
                    line!(out, "{indent}{var}, err := encodeEnum({key}, {p}, string({expr}))");
                } else {
                    line!(
                        out,
                        "{indent}{var}, err := encode{}({key}, {p}, {expr})",
                        kind_function(Kind::of(&param.ty))
                    );
                }
                line!(out, "{indent}if err != nil {{");
                line!(out, "{indent}\treturn \"\", err");
                line!(out, "{indent}}}");
                terms.push(var);
            }
        }
    }
    if terms.is_empty() {
        return "\"\"".into();
    }
    terms.join(" + ")
}

/// Statements that read `source` (an expression answering a text form and an error) into `var`,
/// a value of parameter `index`; `zero` is what the function answers with an error.
fn convert(out: &mut String, indent: &str, package: &Package<'_>, index: usize, source: &str, var: &str, zero: &str) {
    let param = &package.schema.params[index];
    let check = |out: &mut String| {
        line!(out, "{indent}if err != nil {{");
        line!(out, "{indent}\treturn {zero}, err");
        line!(out, "{indent}}}");
    };
    match Kind::of(&param.ty) {
        Kind::Text | Kind::Ident | Kind::Uuid | Kind::Enum => {
            line!(out, "{indent}{var}, err := {source}");
            check(out);
        }
        kind => {
            line!(out, "{indent}{var}Text, err := {source}");
            check(out);
            let method = if kind == Kind::Ip { "ipOf" } else { "intOf" };
            line!(out, "{indent}{var}, err := {method}(k, {index}, {var}Text)");
            check(out);
        }
    }
}

/// `var` as the argument of a typed formatter: an enum's text form converted to its type.
fn typed_arg(package: &Package<'_>, names: &Names, index: usize, var: String) -> String {
    match &names.types[index] {
        Some(ty) if package.schema.params[index].layouts.is_empty() => format!("{ty}({var})"),
        _ => var,
    }
}

fn key_api(out: &mut String, package: &Package<'_>, names: &Names, index: usize, key: &super::KeyItem<'_>) {
    let (var, ty) = &names.keys[index];
    let def = key.def;
    line!(out, "");
    comment(
        out,
        "",
        &format!(
            "{var} is {}: {}.",
            def.pattern.template,
            def.purpose.trim_end_matches('.')
        ),
    );
    comment(out, "", &key.summary);
    line!(out, "var {var} = {ty}{{&keys[{index}]}}");
    line!(out, "");
    line!(out, "// {ty} formats the keys of {}.", def.pattern.template);
    line!(out, "type {ty} struct{{ *Key }}");
    let args: Vec<String> = key
        .placeholders
        .iter()
        .map(|&p| format!("{} {}", local(package.param_name(p)), names.value_type(package, p)))
        .collect();
    line!(out, "");
    line!(out, "// Format answers the key {}.", def.pattern.template);
    line!(out, "func (k {ty}) Format({}) (string, error) {{", args.join(", "));
    let key_text = encode_parts(
        out,
        "\t",
        package,
        "k.Key",
        def.pattern.parts.iter().map(|part| match part {
            PatternPart::Literal(text) => Piece::Literal(text),
            PatternPart::Param(p) => Piece::Value(*p, local(package.param_name(*p)), p.to_string()),
        }),
    );
    line!(out, "\tformatted := {key_text}");
    line!(out, "\treturn finish(k.Key, formatted)");
    line!(out, "}}");
    if !key.fields.is_empty() {
        line!(out, "");
        line!(out, "// The fields of {}.", def.pattern.template);
        line!(out, "const (");
        let rows: Vec<Vec<String>> = key
            .fields
            .iter()
            .map(|f| vec![format!("{var}Field{}", exported(f)), format!("= {}", string(f))])
            .collect();
        aligned(out, "\t", &rows);
        line!(out, ")");
    }
}

fn format_values(out: &mut String, package: &Package<'_>, names: &Names) {
    line!(out, "");
    line!(
        out,
        "// formatValues reads FormatValues' text forms into typed values and formats the key with them."
    );
    line!(
        out,
        "func formatValues(k *Key, values map[string]Value) (string, error) {{"
    );
    line!(out, "\tswitch k.index {{");
    for (index, key) in package.keys.iter().enumerate() {
        line!(out, "\tcase {index}:");
        let mut args = Vec::new();
        for &p in &key.placeholders {
            let var = format!("v{}", args.len());
            if names.types[p].is_some() && !package.schema.params[p].layouts.is_empty() {
                line!(
                    out,
                    "\t\t{var}, err := {}From(k, values, {p})",
                    local(package.param_name(p))
                );
                line!(out, "\t\tif err != nil {{");
                line!(out, "\t\t\treturn \"\", err");
                line!(out, "\t\t}}");
                args.push(var);
            } else {
                convert(
                    out,
                    "\t\t",
                    package,
                    p,
                    &format!("simpleOf(k, values, {p})"),
                    &var,
                    "\"\"",
                );
                args.push(typed_arg(package, names, p, var));
            }
        }
        line!(out, "\t\treturn {}.Format({})", names.keys[index].0, args.join(", "));
    }
    line!(out, "\t}}");
    line!(
        out,
        "\treturn \"\", &FormatError{{Key: k.Name, Reason: \"not a key of this schema\"}}"
    );
    line!(out, "}}");
}

fn ttl(shape: &TtlShape<'_>) -> String {
    match shape {
        TtlShape::None => "TTL{}".into(),
        TtlShape::Fixed(millis) => format!("TTL{{kind: ttlFixed, millis: {millis}}}"),
        TtlShape::Env {
            var,
            default,
            unit,
            unit_name,
        } => format!(
            "TTL{{kind: ttlEnv, millis: {default}, env: {}, unit: {unit}, perUnit: {}}}",
            string(var),
            string(unit_name)
        ),
        TtlShape::Multiple { factor, base } => {
            format!("TTL{{kind: ttlMultiple, factor: {factor}, base: &{}}}", ttl(base))
        }
        TtlShape::PerWrite { max } => format!("TTL{{kind: ttlPerWrite, base: &{}}}", ttl(max)),
    }
}

fn strings_list(items: &[String]) -> String {
    if items.is_empty() {
        return "nil".into();
    }
    let items: Vec<String> = items.iter().map(|s| string(s)).collect();
    format!("[]string{{{}}}", items.join(", "))
}

fn parts(pieces: &[LayoutPart]) -> String {
    let items: Vec<String> = pieces
        .iter()
        .map(|piece| match piece {
            LayoutPart::Literal(text) => format!("{{{}, -1}}", string(text)),
            LayoutPart::Param(p) => format!("{{\"\", {p}}}"),
        })
        .collect();
    format!("[]part{{{}}}", items.join(", "))
}

fn tables(out: &mut String, package: &Package<'_>) {
    let schema = package.schema;
    line!(out, "");
    line!(out, "var params = [...]param{{");
    for param in &schema.params {
        let (names, forms) = match &param.ty {
            ParamType::Enum { variants, case } => (variants.clone(), variants.iter().map(|v| case.apply(v)).collect()),
            _ => (Vec::new(), Vec::new()),
        };
        let layouts = if param.layouts.is_empty() {
            "nil".to_string()
        } else {
            // Inside `[][]part{...}` the element type is implied (`gofmt -s`).
            let items: Vec<String> = param
                .layouts
                .iter()
                .map(|l| parts(l).trim_start_matches("[]part").to_string())
                .collect();
            format!("[][]part{{{}}}", items.join(", "))
        };
        line!(
            out,
            "\t{{{}, {}, {}, {}, {}, {}, {layouts}}},",
            string(&param.name),
            [
                "kindText",
                "kindIdent",
                "kindInt",
                "kindUUID",
                "kindEnum",
                "kindUnixSeconds",
                "kindIP"
            ][usize::from(Kind::of(&param.ty).code())],
            strings_list(&names),
            strings_list(&forms),
            strings_list(&param.except),
            param.spans
        );
    }
    line!(out, "}}");
    line!(out, "");
    line!(out, "var keys = [...]Key{{");
    for (index, key) in package.keys.iter().enumerate() {
        let def = key.def;
        let fields: Vec<String> = key.fields.iter().map(|f| f.to_string()).collect();
        let placeholders: Vec<String> = key.placeholders.iter().map(usize::to_string).collect();
        line!(
            out,
            "\t{{Name: {}, Pattern: {}, RedisType: {}, Codec: {}, Fields: {}, TTL: {}, SlotGroup: {}, Purpose: {}, index: {index}, params: []int{{{}}}}},",
            string(&def.name),
            string(&def.pattern.template),
            string(def.redis_type.name()),
            string(&key.codec),
            strings_list(&fields),
            ttl(&TtlShape::of(&def.ttl)),
            string(key.slot_group.as_deref().unwrap_or_default()),
            string(&def.purpose),
            placeholders.join(", ")
        );
    }
    line!(out, "}}");
    line!(out, "");
    line!(out, "var nodes = [...]node{{");
    for node in &package.table.nodes {
        let literals: Vec<String> = node
            .literals
            .iter()
            .map(|(text, child)| format!("{{{}, {child}}}", string(text)))
            .collect();
        let tests: Vec<String> = node
            .params
            .iter()
            .map(|(test, child)| match test {
                SegmentTest::Param(p) => format!("{{{p}, nil, {child}}}"),
                SegmentTest::Pieces(pieces) => format!("{{-1, {}, {child}}}", parts(pieces)),
            })
            .collect();
        let spanning: Vec<String> = node
            .spanning
            .iter()
            .map(|(p, child)| format!("{{{p}, {child}}}"))
            .collect();
        let list = |ty: &str, items: Vec<String>| {
            if items.is_empty() {
                "nil".to_string()
            } else {
                format!("[]{ty}{{{}}}", items.join(", "))
            }
        };
        line!(
            out,
            "\t{{{}, {}, {}, {}}},",
            list("edge", literals),
            list("test", tests),
            list("spanEdge", spanning),
            node.terminal.map_or(-1, |v| v as i64)
        );
    }
    line!(out, "}}");
    line!(out, "");
    line!(out, "var variants = [...]variant{{");
    for variant in &package.table.variants {
        let choices: Vec<String> = variant
            .choices
            .iter()
            .map(|c| c.map_or(-1, |c| c as i64).to_string())
            .collect();
        line!(out, "\t{{{}, []int{{{}}}}},", variant.key, choices.join(", "));
    }
    line!(out, "}}");
}
