//! keyschema's telemetry exported: spans through `tracing-opentelemetry` to an OpenTelemetry span
//! exporter (stdout in `main`, in memory in the tests), metrics through `metrics` to the
//! Prometheus exporter, served as text on `/metrics`. The store itself depends on the two facades
//! only (its `telemetry` feature); the service picks the exporters, as here.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tracing_subscriber::layer::SubscriberExt as _;

/// Why the exporters could not be installed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Installs, for the whole process, a subscriber that turns the store's spans into
/// OpenTelemetry spans sent to `exporter` (each as it ends), and the Prometheus recorder for its
/// metrics. Answers the tracer provider (flush it before exiting) and the handle that renders
/// the metrics. Install before the store's first call: its metric handles are made then.
pub fn install(exporter: impl SpanExporter + 'static) -> Result<(SdkTracerProvider, PrometheusHandle), BoxError> {
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter).build();
    let tracer = provider.tracer("keyschema");
    let subscriber = tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
    tracing::subscriber::set_global_default(subscriber)?;
    let metrics = PrometheusBuilder::new().install_recorder()?;
    Ok((provider, metrics))
}

/// Serves the metrics in Prometheus's text format: every request on `listener` is answered with
/// them (a scrape endpoint, without an HTTP framework).
pub async fn serve_metrics(listener: TcpListener, metrics: PrometheusHandle) -> std::io::Result<()> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        // The request line and headers are not needed: every path is the metrics.
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request).await?;
        let body = metrics.render();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await?;
    }
}
