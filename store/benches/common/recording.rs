//! A recording subscriber and metrics recorder for the benches (`KEYSCHEMA_BENCH_RECORD=1`,
//! built with the `telemetry` feature): the tests' collector and recorder (every span's fields
//! kept as text, every metric an atomic counter), as a real exporter's collection costs at least.

use keyschema_tests::telemetry::{Collect, Installed, Recorder, Spans};
use std::sync::Arc;
use tracing_subscriber::layer::SubscriberExt as _;

/// Installs what `KEYSCHEMA_BENCH_RECORD` asks for: `spans` (a registry keeping every span's
/// fields as text), `metrics` (a recorder of atomic counters), or anything else for both; whether
/// it installed something.
pub fn install_if_asked() -> bool {
    let Ok(asked) = std::env::var("KEYSCHEMA_BENCH_RECORD") else {
        return false;
    };
    if asked == "registry" {
        // The floor: spans tracked by the registry, no field kept.
        tracing::subscriber::set_global_default(tracing_subscriber::registry()).unwrap();
    } else if asked != "metrics" {
        let subscriber = tracing_subscriber::registry().with(Collect(Arc::new(Spans::default())));
        tracing::subscriber::set_global_default(subscriber).unwrap();
    }
    if asked != "spans" {
        metrics::set_global_recorder(Installed(Arc::new(Recorder::default()))).unwrap();
    }
    true
}
