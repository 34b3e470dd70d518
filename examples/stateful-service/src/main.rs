//! `cargo run -p stateful-service -- redis://127.0.0.1:6379`: processes made-up data points of
//! 1,000 datasources until SIGTERM or Ctrl-C, then backs up every context and exits. Run it
//! again and the contexts come back (`points` keeps counting).

use stateful_service::{metrics::MetricsStore, terminated, BoxError, Processor};
use std::time::Duration;

const INTERVAL: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let store = MetricsStore::connect(&url).await?;
    let processor = Processor::new(&store);
    let stop = terminated()?;
    tokio::pin!(stop);

    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = tick.tick() => {
                let datasource = format!("ds{}", n % 1000);
                processor.process(&datasource, n as f64, INTERVAL).await?;
                n += 1;
            }
        }
    }

    let held = processor.len();
    let report = processor.shutdown().await?;
    eprintln!(
        "backed up {} of {held} contexts ({} bytes) before exiting",
        report.entries, report.bytes
    );
    Ok(())
}
