//! The example's exporters against a real server: the first service's calls arrive as
//! OpenTelemetry spans named by operation and pattern (in memory here, stdout in `main`), and as
//! Prometheus text on the scrape endpoint, labelled by key, without the user's id anywhere.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_testing::RedisServer;
use opentelemetry::Value;
use opentelemetry_sdk::trace::InMemorySpanExporter;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_opentelemetry_and_metrics_the_scrape_endpoint() {
    let server = RedisServer::start();
    let exporter = InMemorySpanExporter::default();
    let (provider, metrics) = observability::install(exporter.clone()).unwrap();
    let report = first_service::run(&server.url()).await.unwrap();
    provider.force_flush().unwrap();

    // The user's id is in the session's key; it must be nowhere in what was exported.
    let user = report.session_key.rsplit(':').next().unwrap().to_string();
    let spans = exporter.get_finished_spans().unwrap();
    let attribute = |span: &opentelemetry_sdk::trace::SpanData, name: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == name)
            .map(|kv| kv.value.clone())
    };
    let set = spans
        .iter()
        .find(|span| span.name == "SET session:<userID>")
        .unwrap_or_else(|| panic!("{:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>()));
    assert_eq!(set.span_kind, opentelemetry::trace::SpanKind::Client);
    assert_eq!(attribute(set, "db.system.name"), Some(Value::from("redis")));
    assert_eq!(attribute(set, "db.operation.name"), Some(Value::from("SET")));
    assert_eq!(
        attribute(set, "keyschema.pattern"),
        Some(Value::from("session:<userID>"))
    );
    assert_eq!(
        attribute(set, "server.port").map(|v| v.to_string()),
        Some(server.port().to_string())
    );
    assert!(spans
        .iter()
        .any(|span| span.name == "RATELIMIT login:failed:<userID>:<ip>"
            && attribute(span, "keyschema.decision").is_some_and(|d| d.as_str() == "limited")));
    assert!(spans.iter().any(|span| span.name == "LOCK account:lock:<userID>"));
    for span in &spans {
        assert!(!span.name.contains(&user));
        for kv in &span.attributes {
            assert!(!kv.value.as_str().contains(&user), "{} = {}", kv.key, kv.value);
        }
    }

    // The scrape endpoint: Prometheus text, labelled by key and operation.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(observability::serve_metrics(listener, metrics));
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    let calls = response
        .lines()
        .find(|line| {
            line.starts_with("keyschema_calls")
                && line.contains("keyschema_key=\"session\"")
                && line.contains("db_operation_name=\"SET\"")
        })
        .unwrap_or_else(|| panic!("{response}"));
    assert!(calls.contains("keyschema_outcome=\"ok\""), "{calls}");
    assert!(response.contains("db_client_operation_duration"), "{response}");
    assert!(response.contains("keyschema_decisions"), "{response}");
    assert!(!response.contains(&user));
    println!("{response}");
}
