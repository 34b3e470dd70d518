//! The subscribers and recorders the benches can run the typed side under
//! (`KEYSCHEMA_BENCH_RECORD`, built with the `telemetry` feature):
//!
//! - `null`: a subscriber and a recorder that take everything and keep nothing: what the store's
//!   own observation costs (the span and metric calls made, nothing done with them);
//! - `registry`: `tracing-subscriber`'s registry alone (spans tracked, no field kept);
//! - `spans`: the registry with [`Export`], a layer that keeps each span's fields, owned (their
//!   text in one buffer per span), until it closes and then adds it to its thread's batch, as an
//!   exporter's batching processor does;
//! - `metrics`: a recorder of atomic counters and histogram counts (the tests' recorder);
//! - `both` (or any other value): `spans` and `metrics`;
//! - `text`: the test suite's collector (every field formatted into a map of strings) and the
//!   recorder: an upper bound, far heavier than an exporter.

use keyschema_tests::telemetry::{Collect, Installed, NullRecorder, Recorder, Spans};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// Installs what `KEYSCHEMA_BENCH_RECORD` asks for (see the module's list); whether it installed
/// something.
pub fn install_if_asked() -> bool {
    let Ok(asked) = std::env::var("KEYSCHEMA_BENCH_RECORD") else {
        return false;
    };
    match asked.as_str() {
        "null" => {
            tracing::subscriber::set_global_default(Null::default()).unwrap();
            metrics::set_global_recorder(NullRecorder::default()).unwrap();
        }
        "registry" => tracing::subscriber::set_global_default(tracing_subscriber::registry()).unwrap(),
        "metrics" => metrics::set_global_recorder(Installed(Arc::new(Recorder::default()))).unwrap(),
        "spans" => {
            let subscriber = tracing_subscriber::registry().with(Export);
            tracing::subscriber::set_global_default(subscriber).unwrap();
        }
        "text" => {
            let subscriber = tracing_subscriber::registry().with(Collect(Arc::new(Spans::default())));
            tracing::subscriber::set_global_default(subscriber).unwrap();
            metrics::set_global_recorder(Installed(Arc::new(Recorder::default()))).unwrap();
        }
        _ => {
            let subscriber = tracing_subscriber::registry().with(Export);
            tracing::subscriber::set_global_default(subscriber).unwrap();
            metrics::set_global_recorder(Installed(Arc::new(Recorder::default()))).unwrap();
        }
    }
    true
}

/// A subscriber that enables every span and keeps nothing.
#[derive(Default)]
struct Null {
    next: AtomicU64,
}

impl tracing::Subscriber for Null {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// A field's value as an exporter keeps it: text as a range of its span's text.
#[allow(dead_code)] // Kept to be exported, never read in the bench.
enum Value {
    Text(u32, u32),
    I64(i64),
    U64(u64),
    Bool(bool),
}

/// A span as an exporter keeps it: its name, its fields (names are `'static` in `tracing`) and
/// the text of their values, owned, in one buffer.
struct Exported {
    name: &'static str,
    fields: Vec<(&'static str, Value)>,
    text: String,
}

impl Exported {
    fn set(&mut self, field: &Field, value: Value) {
        match self.fields.iter_mut().find(|(name, _)| *name == field.name()) {
            Some((_, old)) => *old = value,
            None => self.fields.push((field.name(), value)),
        }
    }

    /// Keeps `write`'s text as `field`'s value.
    fn set_text(&mut self, field: &Field, write: impl FnOnce(&mut String)) {
        let start = self.text.len();
        write(&mut self.text);
        let range = Value::Text(start as u32, self.text.len() as u32);
        self.set(field, range);
    }
}

impl Visit for Exported {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        self.set_text(field, |text| write!(text, "{value:?}").unwrap());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.set_text(field, |text| text.push_str(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field, Value::U64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, Value::Bool(value));
    }
}

/// Closed spans wait in their thread's batch; a full batch is handed to the exporter.
const BATCH: usize = 512;

thread_local! {
    /// This thread's batch of closed spans (per thread, as the two workers would otherwise
    /// contend for one).
    static CLOSED: RefCell<Vec<Exported>> = const { RefCell::new(Vec::new()) };
}

/// A layer that keeps each span's fields until it closes, then adds it to its thread's batch; a
/// full batch is taken away (and dropped: the bench exports nowhere).
struct Export;

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Export {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut span = Exported {
            name: attrs.metadata().name(),
            fields: Vec::with_capacity(attrs.metadata().fields().len()),
            text: String::with_capacity(256),
        };
        attrs.record(&mut span);
        if let Some(data) = ctx.span(id) {
            data.extensions_mut().insert(span);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(data) = ctx.span(id) {
            if let Some(span) = data.extensions_mut().get_mut::<Exported>() {
                values.record(span);
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx
            .span(&id)
            .and_then(|data| data.extensions_mut().remove::<Exported>())
        else {
            return;
        };
        debug_assert!(!span.name.is_empty());
        let full = CLOSED.with(|batch| {
            let mut batch = batch.borrow_mut();
            batch.push(span);
            (batch.len() >= BATCH).then(|| std::mem::replace(&mut *batch, Vec::with_capacity(BATCH)))
        });
        drop(full); // Exported.
    }
}
