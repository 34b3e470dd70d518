//! Start-up of a generated store, with no network: what `connect` does before it opens a socket
//! (build the embedded checked model, compare fingerprints, resolve every key's policy), against
//! what generated code did before the generation contract (parse and check the schema text in
//! every service process), in the same run. On the Cordum schema (its real generated module) and
//! on synthetic schemas of 500, 1,000 and 2,000 patterns, to show the growth; for those the model
//! is built by cloning a parsed one, which allocates what generated constructors allocate.
//!
//! Run: `cargo bench -p keyschema-store --bench startup`.

#![allow(missing_docs)] // criterion_group! generates undocumented items.
#![allow(clippy::unwrap_used)] // A benchmark: a failure is a panic with the reason.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use keyschema_store::{GeneratedSchema, KeyPolicies};
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::OnceLock;

/// A keyspace of `n` patterns as services write them: groups of keys per entity, typed
/// parameters, TTLs from the environment, a few indexes; no two patterns overlap.
fn synthetic(n: usize) -> String {
    let mut source = String::from("keyspace synthetic\nparam id uuid\nparam tenant text\nparam n int\n");
    source.push_str("ttl entity = env(ENTITY_TTL_SECONDS, 7d)\n");
    for i in 0..n {
        let _ = match i % 4 {
            0 => writeln!(
                source,
                "svc{}:entity{i}:<id> string json(Entity) ttl entity \"Entity {i}\"",
                i % 50
            ),
            1 => writeln!(
                source,
                "svc{}:list{i}:<tenant> list json(Event) cap 100 ttl 1h \"Events {i}\"",
                i % 50
            ),
            2 => writeln!(
                source,
                "svc{}:by{i}:<tenant>:<n> zset member id score time ttl 1d \"Index {i}\"",
                i % 50
            ),
            _ => writeln!(source, "svc{}:flag{i} string int ttl 30s \"Counter {i}\"", i % 50),
        };
    }
    source
}

/// What codegen embeds for `source`: a checked model (built by a function, here a clone of a
/// parsed one, where generated code writes constructors) and its fingerprint.
fn generated(source: &str, build: fn() -> keyschema::KeySchema) -> &'static GeneratedSchema {
    let schema = keyschema::Schema::parse(source, "bench.keys").unwrap();
    let fingerprint = keyschema::model_fingerprint(schema.model(), keyschema::CONTRACT_TAG);
    let ambiguities: Vec<(u32, u32)> = schema
        .ambiguities()
        .iter()
        .map(|&(a, b)| (a as u32, b as u32))
        .collect();
    Box::leak(Box::new(GeneratedSchema::new(
        "bench.keys",
        keyschema::VERSION,
        fingerprint,
        build,
        Box::leak(ambiguities.into_boxed_slice()),
    )))
}

static SYNTHETIC: OnceLock<Vec<keyschema::KeySchema>> = OnceLock::new();

fn synthetic_model(index: usize) -> keyschema::KeySchema {
    SYNTHETIC.get().unwrap()[index].clone()
}

const SIZES: [usize; 3] = [500, 1000, 2000];
const BUILDERS: [fn() -> keyschema::KeySchema; 3] =
    [|| synthetic_model(0), || synthetic_model(1), || synthetic_model(2)];

fn start_up(generated: &GeneratedSchema) -> KeyPolicies {
    let schema = generated.load().unwrap();
    KeyPolicies::from_lookup(schema.model(), |_| None).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("start-up");
    group.sample_size(10);
    let sources: Vec<String> = SIZES.iter().map(|&n| synthetic(n)).collect();
    SYNTHETIC.get_or_init(|| {
        sources
            .iter()
            .map(|source| keyschema::Schema::parse(source, "bench.keys").unwrap().model().clone())
            .collect()
    });
    let mut cases: Vec<(String, String, &'static GeneratedSchema)> = vec![(
        "cordum".to_string(),
        keyschema::examples::CORDUM.to_string(),
        &keyschema_tests::generated::cordum::GENERATED,
    )];
    for ((n, source), build) in SIZES.iter().zip(&sources).zip(BUILDERS) {
        cases.push((format!("{n} patterns"), source.clone(), generated(source, build)));
    }
    for (name, source, embedded) in &cases {
        group.bench_with_input(
            BenchmarkId::new("embedded checked model", name),
            *embedded,
            |b, embedded| {
                b.iter(|| black_box(start_up(embedded)));
            },
        );
        group.bench_with_input(
            BenchmarkId::new("parse and check (before)", name),
            source,
            |b, source| {
                b.iter(|| {
                    let schema = keyschema::Schema::parse(source, "bench.keys").unwrap();
                    black_box(KeyPolicies::from_lookup(schema.model(), |_| None).unwrap())
                });
            },
        );
    }
    group.finish();

    // Where the time goes, on the Cordum schema.
    let mut group = c.benchmark_group("start-up phases, cordum");
    let parsed = keyschema::Schema::parse(keyschema::examples::CORDUM, "cordum.keys").unwrap();
    let json = serde_json::to_string(parsed.model()).unwrap();
    group.bench_function("build the model (generated constructors)", |b| {
        b.iter(|| black_box(keyschema_tests::generated::cordum::GENERATED.load().unwrap()));
    });
    group.bench_function("fingerprint", |b| {
        b.iter(|| black_box(keyschema::model_fingerprint(parsed.model(), keyschema::CONTRACT_TAG)));
    });
    group.bench_function("read the model from JSON instead (serde_json)", |b| {
        b.iter(|| black_box(serde_json::from_str::<keyschema::KeySchema>(&json).unwrap()));
    });
    group.bench_function("compile the matcher (on first parse of a key)", |b| {
        b.iter_batched(
            || keyschema::Schema::from_checked_model(parsed.model().clone(), Vec::new(), "cordum.keys"),
            |schema| black_box(schema.matcher().match_key("job:index:running").is_ok()),
            criterion::BatchSize::SmallInput,
        );
    });
    group.bench_function("resolve policies", |b| {
        b.iter(|| black_box(KeyPolicies::from_lookup(parsed.model(), |_| None).unwrap()));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
