//! The conformance corpus: vectors computed by the Rust codec, which every generated package must
//! reproduce byte for byte. Each vector is one JSON line:
//! - `format`: a key's values in their text forms → the key, its slot, and what parsing it back
//!   gives (or `{"error": true}` when the codec refuses the values);
//! - `parse`: a key (valid, mutated, hostile) → the key definition, values and slot the matcher
//!   gives (or an error);
//! - `ttl`: a key's TTL with an environment → milliseconds, `never`, or an error.
//!
//! Values are drawn by a seeded generator, hostile on purpose: separators, braces, `%`, control
//! bytes, non-ASCII, excluded words, non-canonical numbers, UUIDs and addresses.

use keyschema::codec::{display_value, parse_canonical_int, parse_uuid};
use keyschema::model::{KeySchema, LayoutPart, Param, ParamType, TtlPolicy};
use keyschema::{key_slot, ParamValue, Schema};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::net::IpAddr;

/// A small deterministic generator (xorshift64*), so the corpus is the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const PIECES: &[&str] = &[
    "a", "b", "z", "Q", "0", "7", "-", "_", ".", " ", ":", "::", "{", "}", "{x}", "%", "%3A", "%41", "%zz", "\n", "\t",
    "\u{0}", "\u{7f}", "\u{1f}", "é", "漢", "🙂", "/", "@", "|", "*", "?", "[", "]", "\\", "\"", "'", "ß", "\u{a0}",
    "\u{200b}",
];

fn text(rng: &mut Rng, param: &Param) -> String {
    if !param.except.is_empty() && rng.chance(5) {
        return rng.pick(&param.except).clone();
    }
    if rng.chance(3) {
        return String::new();
    }
    let longest = if rng.chance(10) { 40 } else { 8 };
    let len = 1 + rng.below(longest);
    (0..len).map(|_| *rng.pick(PIECES)).collect()
}

fn ident(rng: &mut Rng, param: &Param) -> String {
    if rng.chance(20) {
        return text(rng, param);
    }
    const CHARS: &[u8] = b"abcxyzABCXYZ0189_.-";
    let len = 1 + rng.below(12);
    (0..len).map(|_| *rng.pick(CHARS) as char).collect()
}

fn int(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => i64::MIN.to_string(),
        1 => i64::MAX.to_string(),
        2 => "0".into(),
        3 => rng
            .pick(&[
                "01",
                "+1",
                "-0",
                "",
                "1.0",
                " 1",
                "99999999999999999999",
                "-",
                "1e3",
                "٣",
            ])
            .to_string(),
        4 => format!("-{}", rng.below(1000)),
        _ => (rng.next() >> rng.below(63)).to_string(),
    }
}

fn uuid(rng: &mut Rng) -> String {
    let bytes: Vec<u8> = (0..16).map(|_| rng.next() as u8).collect();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let canonical = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    match rng.below(10) {
        0 => canonical.to_uppercase(),
        1 => hex,
        2 => canonical[..35].to_string(),
        _ => canonical,
    }
}

fn ip(rng: &mut Rng) -> String {
    let octets: Vec<u8> = (0..16)
        .map(|_| if rng.chance(40) { 0 } else { rng.next() as u8 })
        .collect();
    match rng.below(12) {
        0..=3 => format!("{}.{}.{}.{}", octets[0], octets[1], octets[2], octets[3]),
        4 => format!("::ffff:{}.{}.{}.{}", octets[0], octets[1], octets[2], octets[3]),
        5 => rng
            .pick(&[
                "01.2.3.4",
                "1.2.3",
                "256.1.1.1",
                "::FFFF:1.2.3.4",
                "0:0:0:0:0:0:0:1",
                "fe80::1%eth0",
                "::",
                "::1",
                "1::",
                "1:0:0:1::1",
                "::ffff:0:0",
                "::1.2.3.4",
                "2001:db8::",
                "2001:DB8::1",
                "1.2.3.4 ",
            ])
            .to_string(),
        _ => {
            let mut groups = [0u16; 8];
            for (i, g) in groups.iter_mut().enumerate() {
                *g = u16::from_be_bytes([octets[2 * i], octets[2 * i + 1]]);
            }
            let addr = std::net::Ipv6Addr::from(groups);
            if rng.chance(10) {
                // A non-canonical spelling of the same address.
                groups.iter().map(|g| format!("{g:x}")).collect::<Vec<_>>().join(":")
            } else {
                addr.to_string()
            }
        }
    }
}

fn enum_value(rng: &mut Rng, variants: &[String]) -> String {
    match rng.below(10) {
        0 => rng.pick(variants).to_lowercase(),
        1 => "NOT_A_VARIANT".into(),
        _ => rng.pick(variants).clone(),
    }
}

/// A text form of a simple value of `param`.
fn simple_text(rng: &mut Rng, param: &Param) -> String {
    match &param.ty {
        ParamType::Text => text(rng, param),
        ParamType::Ident => ident(rng, param),
        ParamType::Int | ParamType::UnixSeconds => int(rng),
        ParamType::Uuid => uuid(rng),
        ParamType::Enum { variants, .. } => enum_value(rng, variants),
        ParamType::Ip => ip(rng),
    }
}

/// The value a text form stands for, read strictly (canonical forms only), or `None`.
fn strict_value<'t>(param: &Param, text: &'t str) -> Option<ParamValue<'t>> {
    Some(match &param.ty {
        ParamType::Text | ParamType::Ident => ParamValue::Text(Cow::Borrowed(text)),
        ParamType::Int | ParamType::UnixSeconds => ParamValue::Int(parse_canonical_int(text)?),
        ParamType::Uuid => ParamValue::Uuid(parse_uuid(text)?),
        ParamType::Enum { variants, .. } => ParamValue::Enum(variants.iter().position(|v| v == text)?),
        ParamType::Ip => {
            let ip: IpAddr = text.parse().ok()?;
            if ip.to_string() != text {
                return None;
            }
            ParamValue::Ip(ip)
        }
    })
}

/// A decoded value in its text form, as the packages answer it.
fn value_json(schema: &KeySchema, param: usize, value: &ParamValue<'_>) -> Value {
    match value {
        ParamValue::Layout { layout, parts } => {
            let parts: Map<String, Value> = parts
                .iter()
                .map(|(p, v)| (schema.params[*p].name.clone(), value_json(schema, *p, v)))
                .collect();
            json!({"layout": layout + 1, "parts": parts})
        }
        other => Value::String(display_value(&schema.params[param], other)),
    }
}

/// What the matcher gives for `key`: `{key, values, slot}`, or `{error: true}`.
fn parsed(schema: &Schema, key: &str) -> Value {
    let model = schema.model();
    match schema.matcher().match_key(key) {
        Ok(found) => {
            let values: Map<String, Value> = found
                .values
                .iter()
                .map(|(p, v)| (model.params[*p].name.clone(), value_json(model, *p, v)))
                .collect();
            json!({"key": model.keys[found.key].name, "values": values, "slot": found.slot})
        }
        Err(_) => json!({"error": true}),
    }
}

/// Vectors for every key of `schema`: `per_key` drawn value sets each, their keys mutated, and
/// the TTLs under hostile environments.
pub fn vectors(schema: &Schema, seed: u64, per_key: usize) -> Vec<Value> {
    let model = schema.model();
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut keys_made = Vec::new();
    for def in &model.keys {
        let placeholders: Vec<usize> = def.pattern.params().collect();
        for round in 0..per_key {
            let mut texts = Map::new();
            let mut values = Vec::new();
            let mut valid = true;
            for &p in &placeholders {
                let param = &model.params[p];
                let layout = (!param.layouts.is_empty() && rng.chance(50)).then(|| rng.below(param.layouts.len()));
                match layout {
                    None => {
                        let mut text = simple_text(&mut rng, param);
                        if round == 0 && matches!(param.ty, ParamType::Text) {
                            // One key per definition longer than keyschema allows.
                            text = "x".repeat(70_000);
                        }
                        match strict_value(param, &text) {
                            Some(v) => values.push(v.into_owned()),
                            None => valid = false,
                        }
                        texts.insert(param.name.clone(), Value::String(text));
                    }
                    Some(layout) => {
                        let mut parts_json = Map::new();
                        let mut parts = Vec::new();
                        for piece in &param.layouts[layout] {
                            if let LayoutPart::Param(q) = piece {
                                let part = &model.params[*q];
                                let text = simple_text(&mut rng, part);
                                match strict_value(part, &text) {
                                    Some(v) => parts.push((*q, v.into_owned())),
                                    None => valid = false,
                                }
                                parts_json.insert(part.name.clone(), Value::String(text));
                            }
                        }
                        values.push(ParamValue::Layout { layout, parts });
                        texts.insert(param.name.clone(), json!({"layout": layout + 1, "parts": parts_json}));
                    }
                }
            }
            let mut key = String::new();
            let expect = if valid && model.write_key(def, &values, &mut key).is_ok() {
                keys_made.push(key.clone());
                json!({"key": key, "slot": key_slot(key.as_bytes()), "parsed": parsed(schema, &key)})
            } else {
                json!({"error": true})
            };
            out.push(json!({"op": "format", "key": def.name, "values": texts, "expect": expect}));
        }
        ttl_vectors(&def.name, &def.ttl, &mut rng, &mut out);
    }
    for key in &keys_made {
        if key.len() > 1000 {
            continue;
        }
        let input = mutate(&mut rng, key, model.separator);
        out.push(json!({"op": "parse", "input": input, "expect": parsed(schema, &input)}));
    }
    for input in [
        "",
        ":",
        "::",
        "{}",
        "%",
        "job",
        "job:",
        ":job",
        "a:b:c:d:e:f:g:h:i:j:k:l",
    ] {
        out.push(json!({"op": "parse", "input": input, "expect": parsed(schema, input)}));
    }
    out
}

fn mutate(rng: &mut Rng, key: &str, separator: char) -> String {
    let mut chars: Vec<char> = key.chars().collect();
    match rng.below(9) {
        0 => return key.to_string(),
        1 if !chars.is_empty() => {
            let i = rng.below(chars.len());
            chars.remove(i);
        }
        2 => {
            let i = rng.below(chars.len() + 1);
            chars.insert(i, separator);
        }
        3 => {
            let i = rng.below(chars.len() + 1);
            let junk = *rng.pick(&["%", "%4", "%41", "%3a", "%3A", "{", "}", "\u{0}", "é", "X"]);
            for (n, c) in junk.chars().enumerate() {
                chars.insert(i + n, c);
            }
        }
        4 if !chars.is_empty() => {
            let i = rng.below(chars.len());
            chars[i] = chars[i].to_ascii_uppercase();
        }
        5 => chars.truncate(rng.below(chars.len() + 1)),
        6 => {
            chars.push(separator);
            chars.extend("extra".chars());
        }
        7 if !chars.is_empty() => {
            let i = rng.below(chars.len());
            chars[i] = *rng.pick(&['0', '9', 'a', 'f', '-', '_', '.', ':']);
        }
        _ => return key.to_string(),
    }
    chars.into_iter().collect()
}

fn ttl_vectors(key: &str, ttl: &TtlPolicy, rng: &mut Rng, out: &mut Vec<Value>) {
    let expect = |value: Option<&str>| -> Value {
        let var = ttl.env_var().unwrap_or_default().to_string();
        match ttl.resolve(|name| (name == var).then(|| value.map(str::to_string)).flatten()) {
            Ok(None) => json!({"never": true}),
            Ok(Some(millis)) => json!({"millis": millis.0.to_string()}),
            Err(_) => json!({"error": true}),
        }
    };
    out.push(json!({"op": "ttl", "key": key, "env": {}, "expect": expect(None)}));
    let Some(var) = ttl.env_var() else {
        return;
    };
    let mut values: Vec<String> = [
        "5",
        " 5 ",
        "+5",
        "++5",
        "0",
        " 0 ",
        "-1",
        "-0",
        "",
        " ",
        "abc",
        "1e3",
        "5s",
        "18446744073709551615",
        "18446744073709551616",
        "213503982334601",
        "9999999999999999",
        "\u{a0}7\u{3000}",
        "\u{feff}7",
        "\u{85}7",
        "\u{1c}7",
        "٣",
        "007",
        "1_000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    values.push((rng.next() >> rng.below(64)).to_string());
    for value in values {
        out.push(json!({"op": "ttl", "key": key, "env": {var: value}, "expect": expect(Some(&value))}));
    }
}
