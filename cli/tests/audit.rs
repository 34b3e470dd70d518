//! `keyschema audit` as a CI job runs it, against a real server the harness starts: exit 0 on a
//! clean keyspace, 1 when a key has a problem (with the report in text, JSON or HTML), 2 when the
//! audit cannot run; `--fix` prints its plan and changes nothing until `--apply`.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

mod common;

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
    common::assert_exit(&clean, 0);
    let text = String::from_utf8(clean.stdout).unwrap();
    assert!(text.contains("1 keys, 0 problem(s)"), "{text}");

    // A key without its TTL and a key no pattern knows (with an escape sequence in its name).
    ok(redis
        .cmd(&["SET", "job:state:1f8fad5b-d9cb-469f-a165-70867728950e", "{}"])
        .unwrap());
    ok(redis.cmd(&["SET", "legacy\u{1b}[31m:x", "1"]).unwrap());
    let found = audit(&server.url(), &[]);
    assert_eq!(found.status.code(), Some(1));
    let text = String::from_utf8(found.stdout).unwrap();
    assert!(
        text.contains("3 keys, 2 problem(s): 1 matching no pattern, 0 dangling"),
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
    let job_state = common::named(&report["patterns"], "job_state");
    assert_eq!(job_state["keys_with_problems"], 1);
    assert_eq!(job_state["problems"][0]["problem"], "ttl_missing");
    assert_eq!(report["unknown"][0]["code"], "K001");

    // The page: self-contained (no script, nothing fetched), the key names escaped.
    let html = audit(&server.url(), &["--format", "html"]);
    assert_eq!(html.status.code(), Some(1));
    let page = String::from_utf8(html.stdout).unwrap();
    assert!(page.starts_with("<!doctype html>") && page.trim_end().ends_with("</html>"));
    assert!(
        page.contains("Keys per pattern") && page.contains("slot heat map"),
        "{page}"
    );
    assert!(
        page.contains("legacy\\u{1b}[31m") || page.contains("legacy\\u{1b}"),
        "{page}"
    );
    for outside in ["<script", "http://", "https://", "src="] {
        assert!(!page.contains(outside), "{outside}");
    }
}

#[test]
fn an_empty_server_is_a_clean_keyspace() {
    let server = RedisServer::start();
    let empty = audit(&server.url(), &[]);
    common::assert_exit(&empty, 0);
    let text = String::from_utf8(empty.stdout).unwrap();
    assert!(text.contains("0 keys, 0 problem(s)"), "{text}");
    // An address without a scheme is read as `redis://host:port`.
    let bare = audit(&format!("127.0.0.1:{}", server.port()), &[]);
    common::assert_exit(&bare, 0);
    // Anything else is refused with what to write instead.
    let wrong = audit("localhost", &[]);
    common::assert_exit(&wrong, 2);
    let said = String::from_utf8(wrong.stderr).unwrap();
    assert!(
        said.contains("not a Redis address") && said.contains("host:port"),
        "{said}"
    );
}

#[test]
fn fix_is_a_dry_run_until_applied() {
    let server = RedisServer::start();
    let mut redis = server.connect();
    let key = "job:state:2f8fad5b-d9cb-469f-a165-70867728950e";
    assert_eq!(redis.cmd(&["SET", key, "{}"]).unwrap(), Reply::Status("OK".into()));
    let pttl = |redis: &mut keyschema_tests::Connection| redis.cmd(&["PTTL", key]).unwrap().as_int().unwrap();

    let plan = audit(&server.url(), &["--fix"]);
    assert_eq!(plan.status.code(), Some(1));
    let text = String::from_utf8(plan.stdout).unwrap();
    assert!(
        text.contains("fix: would set the declared TTL (7d) on 1 key(s) of job:state:<jobID>"),
        "{text}"
    );
    assert!(text.contains("dry run, nothing changed"), "{text}");
    assert_eq!(pttl(&mut redis), -1, "a dry run changes nothing");
    // The plan in JSON too: what would change, and that nothing did.
    let json = audit(&server.url(), &["--fix", "--format", "json"]);
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["fixed"], serde_json::Value::Null);
    assert_eq!(report["fix_plan"]["applied"], false);
    assert_eq!(report["fix_plan"]["ttls"][0]["pattern"], "job:state:<jobID>");
    assert_eq!(report["fix_plan"]["ttls"][0]["keys"], 1);
    assert_eq!(report["fix_plan"]["ttls"][0]["ttl_ms"], 604_800_000u64);
    assert_eq!(report["fix_plan"]["members"], serde_json::json!([]));
    assert_eq!(pttl(&mut redis), -1, "a dry run changes nothing");

    let applied = audit(&server.url(), &["--fix", "--apply"]);
    let text = String::from_utf8(applied.stdout).unwrap();
    assert!(text.contains("fix: set 1 TTL(s), removed 0 member(s)"), "{text}");
    assert!(pttl(&mut redis) > 604_000_000);
    assert_eq!(audit(&server.url(), &[]).status.code(), Some(0), "clean once fixed");

    let refused = audit(&server.url(), &["--apply"]);
    assert_eq!(refused.status.code(), Some(2), "--apply needs --fix");
    let refused = audit(&server.url(), &["--replicas", "--fix"]);
    assert_eq!(refused.status.code(), Some(2), "replicas cannot be fixed");
    let on_replica = audit(&server.url(), &["--replicas"]);
    common::assert_exit(&on_replica, 0);
}

#[test]
fn an_unreachable_server_exits_2_with_the_reason() {
    let port = keyschema_tests::server::free_port();
    let failed = audit(&format!("redis://127.0.0.1:{port}"), &[]);
    assert_eq!(failed.status.code(), Some(2));
    let stderr = String::from_utf8(failed.stderr).unwrap();
    assert!(stderr.starts_with("error: "), "{stderr}");
}

#[test]
fn a_killed_audit_resumes_from_its_checkpoint_and_counts_every_key_once() {
    const JOBS: usize = 30_000;
    let server = RedisServer::start();
    let mut redis = server.connect();
    for chunk in (0..JOBS).collect::<Vec<_>>().chunks(1000) {
        let keys: Vec<String> = chunk
            .iter()
            .map(|i| format!("job:state:{:08x}-0000-4000-8000-{:012x}", i, i * 31))
            .collect();
        let commands: Vec<Vec<&[u8]>> = keys
            .iter()
            .map(|key| vec![&b"SET"[..], key.as_bytes(), b"{}", b"PX", b"60000000"])
            .collect();
        redis.pipeline(&commands).unwrap();
    }
    let checkpoint = std::env::temp_dir().join(format!("keyschema-audit-{}.checkpoint", std::process::id()));
    let _ = std::fs::remove_file(&checkpoint);
    let checkpoint_arg = checkpoint.to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyschema"))
        .args([
            "audit",
            "--url",
            &server.url(),
            "--scan-count",
            "20",
            "--checkpoint",
            checkpoint_arg,
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::kill_after(&mut child, &checkpoint, 1);
    let at_kill = common::checkpoint_keys(&checkpoint);
    assert!(at_kill > 0 && at_kill < JOBS as u64, "{at_kill}");

    let resumed = audit(&server.url(), &["--checkpoint", checkpoint_arg, "--format", "json"]);
    common::assert_exit(&resumed, 0);
    let report: serde_json::Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(report["keys"], JOBS, "every key counted once");
    let job_state = common::named(&report["patterns"], "job_state");
    assert_eq!(job_state["keys"], JOBS);
    assert!(!checkpoint.exists(), "a completed audit removes its checkpoint");
}

/// `--replicas` on a cluster as it forms: with no replica at all a shard is refused at once;
/// with replicas connected but not yet listed by the cluster (they have no replication offset
/// until their first sync, held back 4 s here), the audit waits for them, saying so, then reads
/// every key from them. (Before, it failed with "has no replica to read from".)
#[test]
fn an_audit_of_replicas_waits_for_a_forming_clusters_replicas() {
    let mut cluster = keyschema_tests::RedisCluster::primaries_only(std::time::Duration::from_secs(4));
    let url = cluster.urls()[0].clone();
    let none = audit(&url, &["--replicas"]);
    assert_eq!(none.status.code(), Some(2));
    let text = String::from_utf8_lossy(&none.stderr).into_owned();
    assert!(text.contains("has no replica to read from"), "{text}");

    // Keys on every shard, which the replicas get with their first sync.
    let shards = cluster.shards(0);
    for i in 0..30 {
        let key = format!("wf:def:flow-{i}");
        let shard = shards.iter().find(|shard| shard.serves(&key)).unwrap();
        cluster.nodes()[shard.primary]
            .connect()
            .cmd(&["SET", &key, "{}"])
            .unwrap();
    }
    cluster.add_replicas();
    let started = std::time::Instant::now();
    let waited = audit(&url, &["--replicas", "--format", "json"]);
    let stderr = String::from_utf8_lossy(&waited.stderr).into_owned();
    assert_eq!(waited.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("waiting for the replica of 127.0.0.1:"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let report: serde_json::Value = serde_json::from_slice(&waited.stdout).unwrap();
    assert_eq!(report["keys"], 30, "{report}");
}
