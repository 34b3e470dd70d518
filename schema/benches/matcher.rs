#![allow(missing_docs)] // criterion_group! generates undocumented items.

//! The hot paths of the schema crate, each against a baseline measured in the same run.
//!
//! - `match`: the Cordum keys matched with parameters decoded and slot computed (and linted into
//!   a `LintTable` from one input, as the batch linter does), against one
//!   `regex::Regex` with captures per pattern tried in turn (how hand-written linters do it) and a
//!   `regex::RegexSet` that only says which pattern matched.
//! - `format`: formatting a key into a reused buffer, against `format!`.
//! - `slot`: CRC16 key slots, in bytes per second.
//!
//! Run: `cargo bench -p keyschema --bench matcher`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keyschema::{examples, LayoutPart, ParamType, ParamValue, PatternPart, Schema};
use regex::{Regex, RegexSet};
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

fn schema() -> Schema {
    Schema::parse(examples::CORDUM, "cordum.keys").expect("the bundled schema is valid")
}

/// A value of `ty` that varies with `i`.
fn value(ty: &ParamType, i: usize) -> ParamValue<'static> {
    match ty {
        ParamType::Text => ParamValue::Text(Cow::Owned(format!("tenant-{}", i % 97))),
        ParamType::Ident => ParamValue::Text(Cow::Owned(format!("id_{}", i % 89))),
        ParamType::Int => ParamValue::Int((i % 1000) as i64),
        ParamType::UnixSeconds => ParamValue::Int(1_700_000_000 + i as i64),
        ParamType::Uuid => {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
            bytes[8..].copy_from_slice(&(i as u64).to_be_bytes());
            ParamValue::Uuid(bytes)
        }
        ParamType::Enum { variants, .. } => ParamValue::Enum(i % variants.len()),
        ParamType::Ip => ParamValue::Ip(IpAddr::V4(Ipv4Addr::from((i as u32).wrapping_mul(2_654_435_761)))),
    }
}

/// 100 keys of each Cordum pattern (the simple layout of every parameter).
fn corpus(schema: &Schema) -> Vec<String> {
    let model = schema.model();
    let mut keys = Vec::new();
    for key in &model.keys {
        for i in 0..100 {
            let values: Vec<ParamValue<'_>> = key.pattern.params().map(|p| value(&model.params[p].ty, i)).collect();
            let mut text = String::new();
            model
                .write_key(key, &values, &mut text)
                .expect("sample values are valid");
            keys.push(text);
        }
    }
    keys
}

/// The regex a hand-written linter would write for a pattern: literals escaped, one capture
/// group per placeholder.
fn regex_source(schema: &Schema, parts: &[PatternPart]) -> String {
    let mut source = String::from("^");
    for part in parts {
        match part {
            PatternPart::Literal(text) => source.push_str(&regex::escape(text)),
            PatternPart::Param(p) => {
                let param = &schema.model().params[*p];
                let simple = match &param.ty {
                    ParamType::Uuid => "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}".to_string(),
                    ParamType::Int => "-?[0-9]+".into(),
                    ParamType::UnixSeconds => "[0-9]+".into(),
                    ParamType::Enum { variants, case } => {
                        variants.iter().map(|v| case.apply(v)).collect::<Vec<_>>().join("|")
                    }
                    _ => "[^:]+".into(),
                };
                let layouts: Vec<String> = param
                    .layouts
                    .iter()
                    .map(|layout| {
                        layout
                            .iter()
                            .map(|part| match part {
                                LayoutPart::Literal(text) => regex::escape(text),
                                LayoutPart::Param(_) => "[^:@]+".into(),
                            })
                            .collect()
                    })
                    .collect();
                let alternatives = std::iter::once(simple).chain(layouts).collect::<Vec<_>>().join("|");
                source.push_str(&format!("({alternatives})"));
            }
        }
    }
    source.push('$');
    source
}

fn bench_match(c: &mut Criterion) {
    let schema = schema();
    let keys = corpus(&schema);
    let sources: Vec<String> = schema
        .model()
        .keys
        .iter()
        .map(|k| regex_source(&schema, &k.pattern.parts))
        .collect();
    let regexes: Vec<Regex> = sources.iter().map(|s| Regex::new(s).expect("valid regex")).collect();
    let set = RegexSet::new(&sources).expect("valid regex set");

    let mut group = c.benchmark_group("match");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("keyschema: pattern + decoded params + slot", |b| {
        b.iter(|| {
            let mut found = 0usize;
            for key in &keys {
                if let Ok(m) = schema.matcher().match_key(black_box(key)) {
                    found += m.values.len() + usize::from(m.slot);
                }
            }
            found
        })
    });
    // The batch linter's engine on the same keys as one newline-separated input: per key its
    // definition, slot and first problem, in columns (what `lintBatch` runs in WebAssembly).
    let input = keys.join("\n");
    group.bench_function("keyschema: lint_table of the keys as one input", |b| {
        b.iter(|| {
            schema
                .lint_table(black_box(input.as_bytes()))
                .map_or(0, |table| table.len())
        })
    });
    group.bench_function("keyschema: pattern only", |b| {
        b.iter(|| {
            keys.iter()
                .filter_map(|key| schema.matcher().find(black_box(key)))
                .count()
        })
    });
    group.bench_function("baseline: Regex with captures per pattern, in turn", |b| {
        b.iter(|| {
            let mut found = 0usize;
            for key in &keys {
                for regex in &regexes {
                    if let Some(captures) = regex.captures(black_box(key)) {
                        found += captures.len();
                        break;
                    }
                }
            }
            found
        })
    });
    group.bench_function("baseline: RegexSet, which pattern only", |b| {
        b.iter(|| {
            keys.iter()
                .filter(|key| set.matches(black_box(key)).matched_any())
                .count()
        })
    });
    group.finish();
}

fn bench_format(c: &mut Criterion) {
    let schema = schema();
    let model = schema.model();
    let key = model.key("job_idempotency").expect("a Cordum key");
    let values = [
        ParamValue::Text(Cow::Borrowed("acme:eu")),
        ParamValue::Text(Cow::Borrowed("order-42")),
    ];
    let mut group = c.benchmark_group("format");
    group.throughput(Throughput::Elements(1));
    group.bench_function("keyschema: write_key into a reused buffer", |b| {
        let mut out = String::with_capacity(128);
        b.iter(|| {
            out.clear();
            model
                .write_key(key, black_box(&values), &mut out)
                .expect("valid values");
            out.len()
        })
    });
    group.bench_function("baseline: format! without escaping", |b| {
        b.iter(|| format!("job:idempotency:{}:{}", black_box("acme:eu"), black_box("order-42")).len())
    });
    group.finish();
}

fn bench_slot(c: &mut Criterion) {
    let mut group = c.benchmark_group("slot");
    for len in [16usize, 64, 1024, 65536] {
        let key: Vec<u8> = (0..len).map(|i| b"abcdefghij:klmnop"[i % 17]).collect();
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("key_slot", len), &key, |b, key| {
            b.iter(|| keyschema::key_slot(black_box(key)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_match, bench_format, bench_slot);
criterion_main!(benches);
