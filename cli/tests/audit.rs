//! `keyschema audit` as a CI job runs it, against a real server the harness starts: exit 0 on a
//! clean keyspace, 1 when a key has a problem (with the report in text or JSON), 2 when the
//! audit cannot run.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_tests::{RedisServer, Reply};
use std::process::{Command, Output};

fn audit(url: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyschema"))
        .args(["audit", "--url", url])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn exit_status_and_report_follow_what_the_keyspace_holds() {
    let server = RedisServer::start();
    let mut redis = server.connect();
    let ok = |reply| assert_eq!(reply, Reply::Status("OK".into()));
    ok(redis
        .cmd(&[
            "SET",
            "job:state:0f8fad5b-d9cb-469f-a165-70867728950e",
            "{}",
            "PX",
            "60000",
        ])
        .unwrap());

    let clean = audit(&server.url(), &[]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    let text = String::from_utf8(clean.stdout).unwrap();
    assert!(text.contains("1 keys, 0 with a problem"), "{text}");

    // A key without its TTL and a key no pattern knows (with an escape sequence in its name).
    ok(redis
        .cmd(&["SET", "job:state:1f8fad5b-d9cb-469f-a165-70867728950e", "{}"])
        .unwrap());
    ok(redis.cmd(&["SET", "legacy\u{1b}[31m:x", "1"]).unwrap());
    let found = audit(&server.url(), &[]);
    assert_eq!(found.status.code(), Some(1));
    let text = String::from_utf8(found.stdout).unwrap();
    assert!(
        text.contains("3 keys, 2 with a problem, 1 matching no pattern"),
        "{text}"
    );
    assert!(text.contains("1 without the declared TTL"), "{text}");
    assert!(text.contains("legacy\\u001b[31m"), "control bytes are escaped: {text}");
    assert!(!text.contains('\u{1b}'));

    let out = std::env::temp_dir().join(format!("keyschema-audit-{}.json", std::process::id()));
    let json = audit(&server.url(), &["--format", "json", "--out", out.to_str().unwrap()]);
    assert_eq!(json.status.code(), Some(1));
    assert!(json.stdout.is_empty(), "the report went to the file");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    std::fs::remove_file(&out).unwrap();
    assert_eq!(report["version"], 1);
    assert_eq!(report["keys"], 3);
    let job_state = report["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "job_state")
        .unwrap();
    assert_eq!(job_state["keys_with_problems"], 1);
    assert_eq!(job_state["problems"][0]["problem"], "ttl_missing");
    assert_eq!(report["unknown"][0]["code"], "K001");
}

#[test]
fn an_unreachable_server_exits_2_with_the_reason() {
    let port = keyschema_tests::server::free_port();
    let failed = audit(&format!("redis://127.0.0.1:{port}"), &[]);
    assert_eq!(failed.status.code(), Some(2));
    let stderr = String::from_utf8(failed.stderr).unwrap();
    assert!(stderr.starts_with("error: "), "{stderr}");
}
