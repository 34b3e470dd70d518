//! `keyschema migrate` from `cordum.keys` on a standalone server to `cordum-cluster.keys` on a
//! 3+3 cluster, as the operations guide's base-to-production migration: the plan first (nothing
//! written), then a copy killed with SIGKILL mid-way and resumed from its checkpoint; at the end
//! every key is on the cluster exactly once under its hash-tagged name, with its value and TTL,
//! the unknown keys skipped and listed, and the source untouched.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

mod common;

use keyschema_tests::{shared_cluster, RedisCluster, RedisServer, Reply};
use std::process::{Command, Output, Stdio};

const JOBS: usize = 12_000;
const WORKFLOWS: usize = 500;
const LEGACY: usize = 37;

fn schema(name: &str) -> String {
    format!("{}/../schema/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn migrate(source: &str, target: &str, extra: &[&str]) -> Command {
    migrate_between("cordum-cluster.keys", source, target, extra)
}

/// `keyschema migrate` from `cordum.keys` into the layout of the example schema `to`.
fn migrate_between(to: &str, source: &str, target: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyschema"));
    command
        .args(["migrate", "--from", &schema("cordum.keys"), "--to", &schema(to)])
        .args(["--source", source, "--target", target])
        .args(extra);
    command
}

fn run(mut command: Command) -> Output {
    command.output().unwrap()
}

fn uuid(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i, i * 7919)
}

/// Fills the source as the services write it: each job's state (7 days), its event list and
/// its place in the state index; workflow definitions (no TTL); keys of a legacy service.
/// Returns the number of keys.
fn fill(server: &RedisServer) -> usize {
    let mut redis = server.connect();
    for chunk in (0..JOBS).collect::<Vec<_>>().chunks(1000) {
        let mut commands: Vec<Vec<Vec<u8>>> = Vec::new();
        for &i in chunk {
            let id = uuid(i);
            let ttl = (604_800_000 - i as u64 * 1000).to_string();
            commands.push(words(&[
                "SET",
                &format!("job:state:{id}"),
                &format!("{{\"state\":\"RUNNING\",\"attempt\":{i}}}"),
                "PX",
                &ttl,
            ]));
            commands.push(words(&["RPUSH", &format!("job:events:{id}"), "created", "scheduled"]));
            commands.push(words(&["PEXPIRE", &format!("job:events:{id}"), &ttl]));
            commands.push(words(&["ZADD", "job:index:running", &i.to_string(), &id]));
        }
        pipeline(&mut redis, &commands);
    }
    let mut commands = Vec::new();
    for i in 0..WORKFLOWS {
        commands.push(words(&["SET", &format!("wf:def:flow-{i}"), "{\"steps\":[]}"]));
    }
    for i in 0..LEGACY {
        commands.push(words(&["SET", &format!("legacy:thing:{i}"), "1"]));
    }
    pipeline(&mut redis, &commands);
    2 * JOBS + 1 + WORKFLOWS + LEGACY
}

fn words(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

fn pipeline(redis: &mut keyschema_tests::Connection, commands: &[Vec<Vec<u8>>]) {
    let borrowed: Vec<Vec<&[u8]>> = commands.iter().map(|c| c.iter().map(Vec::as_slice).collect()).collect();
    for reply in redis.pipeline(&borrowed).unwrap() {
        assert!(!matches!(reply, Reply::Error(_)), "{reply:?}");
    }
}

/// Keys on the cluster's primaries.
fn cluster_keys() -> usize {
    let cluster = shared_cluster();
    cluster
        .shards(0)
        .iter()
        .map(|shard| {
            let reply = cluster.nodes()[shard.primary].connect().cmd(&["DBSIZE"]).unwrap();
            usize::try_from(reply.as_int().unwrap()).unwrap()
        })
        .sum()
}

/// The node of the cluster that serves `key`.
fn cluster_node(key: &str) -> keyschema_tests::Connection {
    let cluster = shared_cluster();
    let shard = cluster.shards(0).into_iter().find(|shard| shard.serves(key)).unwrap();
    cluster.nodes()[shard.primary].connect()
}

#[test]
fn a_killed_migration_resumes_and_every_key_lands_once_with_its_value_and_ttl() {
    let source = RedisServer::start();
    let total = fill(&source);
    let migrated = total - LEGACY;
    let target = shared_cluster().urls()[0].clone();
    assert_eq!(cluster_keys(), 0);

    // The plan: counts per pattern, the unknown keys listed; nothing written.
    let plan = run(migrate(&source.url(), &target, &["--dry-run", "--format", "json"]));
    common::assert_exit(&plan, 0);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let plan = &plan["migration"];
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["keys"], total);
    assert_eq!(plan["copied"], 0);
    let job_state = common::named(&plan["patterns"], "job_state");
    assert_eq!(job_state["keys"], JOBS);
    assert_eq!(job_state["to"], "job:state:{<jobID>}");
    assert_eq!(job_state["example"]["to"].as_str().unwrap().matches('{').count(), 1);
    assert_eq!(plan["unmatched"][0]["count"], LEGACY);
    assert_eq!(plan["unmatched"][0]["copied"], 0);
    assert_eq!(cluster_keys(), 0, "a dry run writes nothing");

    // The copy, killed once part of it is checkpointed.
    let checkpoint = std::env::temp_dir().join(format!("keyschema-migrate-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&checkpoint);
    let checkpoint_arg = checkpoint.to_str().unwrap();
    let mut child = migrate(&source.url(), &target, &saved_every_page(checkpoint_arg))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::kill_after(&mut child, &checkpoint, (total / 4) as u64);
    let partial = cluster_keys();
    assert!(partial > 0 && partial < migrated, "{partial} of {migrated}");

    // Resumed: the rest copied, verified key by key (value and TTL).
    let resumed = run(migrate(
        &source.url(),
        &target,
        &["--checkpoint", checkpoint_arg, "--verify", "all", "--format", "json"],
    ));
    common::assert_exit(&resumed, 0);
    let report: serde_json::Value = serde_json::from_slice(&resumed.stdout).unwrap();
    std::fs::remove_file(&checkpoint).unwrap();
    let migration = &report["migration"];
    assert_eq!(migration["resumed"], true);
    let landed = migration["copied"].as_u64().unwrap() + migration["already_there"].as_u64().unwrap();
    assert!(landed >= migrated as u64, "{migration}");
    let verification = &report["verification"];
    assert_eq!(verification["checked"], migrated);
    assert_eq!(verification["compared"], migrated);
    assert_eq!(verification["missing"], 0);
    assert_eq!(verification["value_differs"], 0);
    assert_eq!(verification["ttl_differs"], 0);

    // Exactly once: the cluster holds the migrated keys and nothing else.
    assert_eq!(cluster_keys(), migrated);
    for i in [0, 1, JOBS / 2, JOBS - 1] {
        let id = uuid(i);
        let new = format!("job:state:{{{id}}}");
        let value = cluster_node(&new).cmd(&["GET", &new]).unwrap().as_text().unwrap();
        assert_eq!(value, format!("{{\"state\":\"RUNNING\",\"attempt\":{i}}}"));
        let ttl = cluster_node(&new).cmd(&["PTTL", &new]).unwrap().as_int().unwrap();
        let declared = 604_800_000 - i as i64 * 1000;
        assert!(ttl <= declared && ttl > declared - 120_000, "{new}: {ttl}");
        let events = format!("job:events:{{{id}}}");
        let length = cluster_node(&events).cmd(&["LLEN", &events]).unwrap().as_int().unwrap();
        assert_eq!(length, 2);
    }
    let index = cluster_node("job:index:running")
        .cmd(&["ZCARD", "job:index:running"])
        .unwrap();
    assert_eq!(index.as_int(), Some(JOBS as i64));
    let flow = cluster_node("wf:def:flow-3").cmd(&["PTTL", "wf:def:flow-3"]).unwrap();
    assert_eq!(flow.as_int(), Some(-1), "no TTL stays no TTL");
    assert_eq!(
        cluster_node("legacy:thing:0")
            .cmd(&["EXISTS", "legacy:thing:0"])
            .unwrap()
            .as_int(),
        Some(0)
    );

    // The source is untouched.
    let size = source.connect().cmd(&["DBSIZE"]).unwrap();
    assert_eq!(size.as_int(), Some(total as i64));
}

#[test]
fn a_corrupt_or_foreign_checkpoint_is_refused_and_nothing_is_copied() {
    let source = RedisServer::start();
    let target = RedisServer::start();
    source.connect().cmd(&["SET", "wf:def:flow-1", "{}"]).unwrap();
    let checkpoint = std::env::temp_dir().join(format!("keyschema-foreign-{}.json", std::process::id()));
    let checkpoint_arg = checkpoint.to_str().unwrap();
    let target_keys = || target.connect().cmd(&["DBSIZE"]).unwrap().as_int();

    std::fs::write(&checkpoint, b"{\"version\": 1, \"state\": [").unwrap();
    let corrupt = run(migrate(&source.url(), &target.url(), &["--checkpoint", checkpoint_arg]));
    assert_eq!(corrupt.status.code(), Some(2));
    let stderr = String::from_utf8(corrupt.stderr).unwrap();
    assert!(stderr.contains("is not a keyschema checkpoint"), "{stderr}");
    assert_eq!(target_keys(), Some(0));

    // A checkpoint of a migration into another layout does not resume this one.
    std::fs::remove_file(&checkpoint).unwrap();
    let same_layout = migrate_between(
        "cordum.keys",
        &source.url(),
        &target.url(),
        &["--checkpoint", checkpoint_arg],
    );
    assert_eq!(run(same_layout).status.code(), Some(0));
    target.connect().cmd(&["FLUSHALL"]).unwrap();
    let foreign = run(migrate(&source.url(), &target.url(), &["--checkpoint", checkpoint_arg]));
    assert_eq!(foreign.status.code(), Some(2));
    let stderr = String::from_utf8(foreign.stderr).unwrap();
    assert!(stderr.contains("is of another run: its schemas differ"), "{stderr}");
    assert_eq!(target_keys(), Some(0));
    std::fs::remove_file(&checkpoint).unwrap();
}

#[test]
fn stale_keys_already_on_the_target_are_differences_under_the_default_and_key_by_key_verifications() {
    let (source, target) = (RedisServer::start(), RedisServer::start());
    let (mut from, mut to) = (source.connect(), target.connect());
    let keys: Vec<String> = (0..300).map(|i| format!("job:state:{}", uuid(i))).collect();
    for key in &keys {
        from.cmd(&["SET", key, "{\"state\":\"RUNNING\"}", "PX", "600000"])
            .unwrap();
    }
    // The same layout on both sides: every key keeps its name.
    let same_layout = |extra: &[&str]| run(migrate_between("cordum.keys", &source.url(), &target.url(), extra));
    // The default verification (counts and a sample) and the key-by-key one both compare every
    // key found already there, whatever their sample.
    for verify in [&[][..], &["--verify", "keys"][..]] {
        // Three keys on the target already, with other values: a copy leaves them as they are.
        to.cmd(&["FLUSHALL"]).unwrap();
        for key in &keys[10..13] {
            to.cmd(&["SET", key, "{\"state\":\"STALE\"}", "PX", "600000"]).unwrap();
        }
        let output = same_layout(verify);
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(
            output.status.code(),
            Some(1),
            "{verify:?}: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(text.contains("3 with another value"), "{verify:?}: {text}");
        assert!(
            text.contains(&keys[10]),
            "{verify:?}: the stale keys are listed: {text}"
        );
    }
    // With --replace the copy overwrites them, and the verification passes.
    let output = same_layout(&["--replace"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Arguments for a copy in small pages with `checkpoint` saved after each, so that a kill finds
/// it part done.
fn saved_every_page(checkpoint: &str) -> [&str; 6] {
    [
        "--checkpoint",
        checkpoint,
        "--checkpoint-every",
        "0",
        "--scan-count",
        "100",
    ]
}

/// A checkpoint's path for this test process, removed first (with its lock).
fn fresh_checkpoint(name: &str) -> std::path::PathBuf {
    let checkpoint = std::env::temp_dir().join(format!("keyschema-{name}-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&checkpoint);
    let _ = std::fs::remove_file(lock_of(&checkpoint));
    checkpoint
}

fn lock_of(checkpoint: &std::path::Path) -> std::path::PathBuf {
    let mut lock = checkpoint.as_os_str().to_owned();
    lock.push(".lock");
    lock.into()
}

fn stdout_and_stderr(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A migration to a cluster killed mid-way and resumed with the default verification: the
/// resumed run continues the counts its checkpoint kept, so the keys of every slot the kill did
/// not cut into are accounted for by their slot's count (before, a resumed run kept no counts and
/// looked for every key one by one), and none is missing.
#[test]
fn a_resumed_migration_verifies_by_count() {
    let source = RedisServer::start();
    let cluster = RedisCluster::start();
    let target = cluster.urls()[0].clone();
    let total = fill(&source);
    let migrated = total - LEGACY;
    let checkpoint = fresh_checkpoint("by-count");
    let checkpoint_arg = checkpoint.to_str().unwrap();
    let args = saved_every_page(checkpoint_arg);
    let mut child = migrate(&source.url(), &target, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::kill_after(&mut child, &checkpoint, (total / 4) as u64);
    let resumed = run(migrate(
        &source.url(),
        &target,
        &["--checkpoint", checkpoint_arg, "--format", "json"],
    ));
    common::assert_exit(&resumed, 0);
    let report: serde_json::Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(report["migration"]["resumed"], true);
    let verification = &report["verification"];
    assert_eq!(verification["checked"], migrated, "{verification}");
    assert_eq!(verification["missing"], 0, "{verification}");
    assert_eq!(verification["value_differs"], 0, "{verification}");
    // The pages in flight at the kill touched a few hundred of 16,384 slots; the rest add up.
    let counted = verification["counted"].as_u64().unwrap();
    assert!(
        counted > migrated as u64 / 2,
        "{counted} of {migrated} counted: {verification}"
    );
    std::fs::remove_file(&checkpoint).unwrap();
}

/// A finished migration's checkpoint stays and says so: the same command again copies nothing
/// and says when it finished; once the target was emptied, it refuses (before, it printed
/// "(resumed) ... copied" while copying nothing, then every key missing).
#[test]
fn a_finished_migration_says_so_and_a_changed_target_is_refused() {
    let (source, target) = (RedisServer::start(), RedisServer::start());
    for i in 0..50 {
        source
            .connect()
            .cmd(&["SET", &format!("wf:def:flow-{i}"), "{}"])
            .unwrap();
    }
    let checkpoint = fresh_checkpoint("finished");
    let args = ["--checkpoint", checkpoint.to_str().unwrap()];
    let same_layout = || migrate_between("cordum.keys", &source.url(), &target.url(), &args);
    let first = run(same_layout());
    common::assert_exit(&first, 0);
    assert!(!lock_of(&checkpoint).exists(), "the lock goes with the run");
    let again = run(same_layout());
    common::assert_exit(&again, 0);
    let text = stdout_and_stderr(&again);
    assert!(
        text.contains("finished at") && text.contains("nothing copied"),
        "{text}"
    );
    let mut json = same_layout();
    json.args(["--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&run(json).stdout).unwrap();
    assert!(report["migration"]["finished_before"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(report["verification"]["missing"], 0);

    target.connect().cmd(&["FLUSHALL"]).unwrap();
    let changed = run(same_layout());
    common::assert_exit(&changed, 2);
    let text = stdout_and_stderr(&changed);
    assert!(
        text.contains("its target changed since: it held 50 keys then and holds 0 now"),
        "{text}"
    );
    assert!(text.contains("remove the checkpoint to migrate again"), "{text}");
    assert_eq!(target.connect().cmd(&["DBSIZE"]).unwrap().as_int(), Some(0));
    // With the checkpoint removed, the same command copies again.
    std::fs::remove_file(&checkpoint).unwrap();
    let fresh = run(same_layout());
    common::assert_exit(&fresh, 0);
    assert!(stdout_and_stderr(&fresh).contains("50 copied"));
    std::fs::remove_file(&checkpoint).unwrap();
}

/// Two runs on one checkpoint: the second is refused, naming the first's process and host, and
/// copies nothing; a lock left by a run that died is taken over.
#[test]
fn a_second_run_on_a_checkpoint_is_refused_and_a_dead_runs_lock_is_taken_over() {
    let (source, target) = (RedisServer::start(), RedisServer::start());
    let total = fill(&source);
    let checkpoint = fresh_checkpoint("locked");
    let checkpoint_arg = checkpoint.to_str().unwrap();
    let args = saved_every_page(checkpoint_arg);
    let mut first = migrate_between("cordum.keys", &source.url(), &target.url(), &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Once the first run has saved a page, it holds the lock.
    common::wait_for_checkpoint(&mut first, &checkpoint, 1);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let second = run(migrate_between("cordum.keys", &source.url(), &target.url(), &args));
    let text = stdout_and_stderr(&second);
    assert_eq!(second.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&format!(
            "in use by another run (process {} on {})",
            first.id(),
            host.trim()
        )),
        "{text}"
    );
    // The first run is killed: its lock stays, naming a process that is gone; the next run takes
    // it over, finishes the copy, and removes it.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(lock_of(&checkpoint).exists());
    let third = run(migrate_between("cordum.keys", &source.url(), &target.url(), &args));
    common::assert_exit(&third, 0);
    assert!(!lock_of(&checkpoint).exists());
    let size = target.connect().cmd(&["DBSIZE"]).unwrap().as_int().unwrap();
    assert_eq!(size, (total - LEGACY) as i64);
    std::fs::remove_file(&checkpoint).unwrap();
}
