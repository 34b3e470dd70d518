//! A span collector and a metrics recorder that keep everything they are given, for the tests
//! and benches of the store's telemetry (its `telemetry` feature).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// A span's fields as recorded: name to value (text).
pub type Fields = HashMap<String, String>;

/// Every span closed in this process, with its fields.
#[derive(Default)]
pub struct Spans {
    /// The closed spans' fields (when kept).
    pub closed: Mutex<Vec<Fields>>,
    /// Whether closed spans are kept (the tests) or dropped once recorded (the benches).
    pub keep: bool,
}

/// A span's fields while it is open.
struct SpanFields(Fields);

impl Visit for SpanFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

/// A layer that keeps every span's fields, as text, until it closes (and then in `Spans` if it
/// keeps them).
pub struct Collect(pub Arc<Spans>);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Collect {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = SpanFields(Fields::new());
        attrs.record(&mut fields);
        fields.0.insert("name".into(), attrs.metadata().name().to_string());
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<SpanFields>() {
                values.record(fields);
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let fields = ctx
            .span(&id)
            .and_then(|span| span.extensions_mut().remove::<SpanFields>());
        if let (Some(fields), true) = (fields, self.0.keep) {
            self.0
                .closed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(fields.0);
        }
    }
}

/// One registered metric: its name, labels, and what was recorded (counts, or histogram samples).
pub struct Metric {
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: Vec<(String, String)>,
    /// What was recorded.
    pub value: Arc<Cell>,
}

/// A counter's total, or a histogram's number of samples.
#[derive(Default)]
pub struct Cell(AtomicU64);

impl Cell {
    /// The value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl metrics::CounterFn for Cell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

impl metrics::HistogramFn for Cell {
    fn record(&self, _value: f64) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl metrics::GaugeFn for Cell {
    fn increment(&self, _value: f64) {}
    fn decrement(&self, _value: f64) {}
    fn set(&self, _value: f64) {}
}

/// A recorder keeping every metric registered.
#[derive(Default)]
pub struct Recorder {
    /// Every metric registered.
    pub metrics: Mutex<Vec<Metric>>,
}

/// The recorder as installed (shared with whoever reads it).
pub struct Installed(pub Arc<Recorder>);

impl Recorder {
    fn register(&self, key: &metrics::Key) -> Arc<Cell> {
        let cell = Arc::new(Cell::default());
        self.metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Metric {
                name: key.name().to_string(),
                labels: key
                    .labels()
                    .map(|label| (label.key().to_string(), label.value().to_string()))
                    .collect(),
                value: Arc::clone(&cell),
            });
        cell
    }
}

impl metrics::Recorder for Installed {
    fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_histogram(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}

    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::from_arc(self.0.register(key))
    }

    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::from_arc(self.0.register(key))
    }

    fn register_histogram(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
        metrics::Histogram::from_arc(self.0.register(key))
    }
}

/// A recorder that keeps nothing but has a size, as every real recorder does (the store takes a
/// recorder of zero size for none installed).
#[derive(Default)]
pub struct NullRecorder(#[allow(dead_code)] u64);

impl metrics::Recorder for NullRecorder {
    fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_histogram(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::noop()
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// The process's collector and recorder, installed once (the first call installs them).
pub fn installed() -> (Arc<Spans>, Arc<Recorder>) {
    static INSTALLED: OnceLock<(Arc<Spans>, Arc<Recorder>)> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let spans = Arc::new(Spans {
                keep: true,
                ..Spans::default()
            });
            let recorder = Arc::new(Recorder::default());
            let subscriber = tracing_subscriber::registry().with(Collect(Arc::clone(&spans)));
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other subscriber is installed in a test process of the telemetry tests");
            metrics::set_global_recorder(Installed(Arc::clone(&recorder)))
                .expect("no other recorder is installed in a test process of the telemetry tests");
            (spans, recorder)
        })
        .clone()
}
