//! `cargo run -p observability -- redis://127.0.0.1:6379 [127.0.0.1:9464]`: runs the first
//! service's calls with spans printed by OpenTelemetry's stdout exporter, then prints the
//! Prometheus text; with an address, keeps serving it there for a scraper.

#[tokio::main]
async fn main() -> Result<(), observability::BoxError> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let (provider, metrics) = observability::install(opentelemetry_stdout::SpanExporter::default())?;
    let report = first_service::run(&url).await.map_err(|error| error.to_string())?;
    provider.force_flush()?;
    println!("wrote {}", report.session_key);
    println!("{}", metrics.render());
    if let Some(address) = args.next() {
        let listener = tokio::net::TcpListener::bind(&address).await?;
        println!("serving the metrics on http://{address}/metrics");
        observability::serve_metrics(listener, metrics).await?;
    }
    Ok(())
}
