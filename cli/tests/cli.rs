//! The `keyschema` binary as a user runs it: exit codes, output, and bad input.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn keyschema(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyschema"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // Write from a thread: the child may fill stdout before reading all of stdin.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("keyschema-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

#[test]
fn check_accepts_the_bundled_schema_from_any_folder() {
    let output = keyschema(&["check"], b"");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("schema/examples/cordum.keys: ok"), "{stdout}");
    assert!(stdout.contains("`wf:runs:all` and `wf:runs:<workflowID>` can match the same key: `wf:runs:all`"));
}

#[test]
fn check_reports_errors_with_position_and_exit_1() {
    let path = temp_file(
        "bad.keys",
        b"param jobID uuid\njob:state:<jobId> string \"Job state\"\n",
    );
    let output = keyschema(&["check", path.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(stdout.contains(&format!("{}:2:11", path.display())), "{stdout}");
    assert!(stdout.contains("did you mean `jobID`"));

    let output = keyschema(&["check", path.to_str().unwrap(), "--format", "json"], b"");
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["diagnostics"][0]["code"], "E004");
    assert_eq!(json["diagnostics"][0]["line"], 2);
    assert_eq!(json["diagnostics"][0]["column"], 11);
    // One casing in every JSON shape (docs/json.md): snake_case, as the lint results.
    assert_eq!(json["diagnostics"][0]["end_line"], 2);
    assert_eq!(json["diagnostics"][0]["end_column"], 18);
    assert!(json["diagnostics"][0].get("endLine").is_none());
}

#[test]
fn bad_schema_files_get_a_clear_error() {
    let missing = keyschema(&["check", "/nonexistent/x.keys"], b"");
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("cannot read /nonexistent/x.keys"));

    let binary = temp_file("binary.keys", b"param x int\n\xff\xfe\n");
    let output = keyschema(&["check", binary.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("not valid UTF-8"),
        "{}",
        text(&output.stderr)
    );

    let empty = temp_file("empty.keys", b"");
    let output = keyschema(&["check", empty.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stdout).contains("E013"));

    let huge = temp_file("huge.keys", &vec![b'a'; 10 * 1024 * 1024]);
    let output = keyschema(&["check", huge.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("limited to"), "{}", text(&output.stderr));
    let _ = std::fs::remove_file(huge);
}

#[test]
fn lint_prints_json_lines_and_exits_1_on_problems() {
    let keys = b"job:state:0f8fad5b-d9cb-469f-a165-70867728950e\nnope:x\n";
    let output = keyschema(&["lint", "--format", "json"], keys);
    assert_eq!(output.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["name"], "job_state");
    assert_eq!(lines[0]["pattern"], "job:state:<jobID>");
    assert_eq!(lines[0]["type"], "string");
    assert_eq!(lines[0]["ttl_seconds"], 604_800);
    assert_eq!(lines[0]["ttl_ms"], 604_800_000_u64);
    assert_eq!(lines[0]["params"]["jobID"], "0f8fad5b-d9cb-469f-a165-70867728950e");
    assert!(lines[0]["problems"].as_array().unwrap().is_empty());
    assert_eq!(lines[1]["problems"][0]["code"], "K001");
    for field in [
        "key",
        "name",
        "pattern",
        "params",
        "slot",
        "type",
        "ttl_seconds",
        "ttl_ms",
        "problems",
    ] {
        assert!(lines[1].get(field).is_some(), "{field}");
    }

    let ok = keyschema(&["lint"], b"wf:runs:all\n");
    assert_eq!(ok.status.code(), Some(0));
    assert!(text(&ok.stdout).contains("also matches `wf:runs:<workflowID>`"));
}

#[test]
fn lint_survives_hostile_input() {
    let mut input = vec![b'x'; 10 * 1024 * 1024];
    input.extend_from_slice(b"\n\xff\xfe:bad\n\n{}:%:%%\r\n");
    let path = temp_file("hostile.txt", &input);
    let output = keyschema(&["lint", "--format", "json", path.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let codes: Vec<String> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["problems"][0]["code"].to_string())
        .collect();
    assert_eq!(codes, ["\"K004\"", "\"K005\"", "\"K004\"", "\"K001\""]);
    let _ = std::fs::remove_file(path);
}

#[test]
fn key_formats_and_rejects_bad_values() {
    let output = keyschema(&["key", "job_idempotency", "tenant=a:b", "key=c{d}"], b"");
    assert_eq!(text(&output.stdout).trim(), "job:idempotency:a%3Ab:c%7Bd%7D");
    let bad = keyschema(&["key", "job_state", "jobID=42"], b"");
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("invalid value for `jobID` of key `job_state`"));
    let missing = keyschema(&["key", "job_state"], b"");
    assert!(text(&missing.stderr).contains("needs a value for `jobID`"));
}

#[test]
fn slot_reads_arguments_and_stdin() {
    let output = keyschema(&["slot", "foo", "{user1000}.following"], b"");
    assert_eq!(text(&output.stdout), "12182\tfoo\n3443\t{user1000}.following\n");
    let output = keyschema(&["slot", "-"], b"foo\nbar\n");
    assert_eq!(text(&output.stdout), "12182\tfoo\n5061\tbar\n");
}

#[test]
fn export_is_json_of_the_model() {
    let output = keyschema(&["export"], b"");
    let model: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(model["keyspace"], "cordum");
    // 54 declared keys, and the 14 the primitives declare implicitly: 6 fence counters, 6 fence
    // watermarks, 2 breaker states.
    let keys = model["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 68);
    let implicit = keys.iter().filter(|k| k["primitive"]["kind"] == "companion").count();
    assert_eq!(implicit, 14);
}

#[test]
fn export_and_docs_take_the_schema_as_every_command_does() {
    let catalog = repo_file("schema/examples/catalog.keys");
    let catalog = catalog.to_str().unwrap();
    for command in ["export", "docs"] {
        let positional = keyschema(&[command, catalog], b"");
        let flagged = keyschema(&[command, "--schema", catalog], b"");
        assert_eq!(positional.status.code(), Some(0), "{}", text(&positional.stderr));
        assert_eq!(flagged.stdout, positional.stdout, "{command} --schema");
        assert!(text(&flagged.stdout).contains("catalog"));
    }
}

#[test]
fn committed_inventory_docs_are_current() {
    let output = keyschema(&["docs"], b"");
    let committed = std::fs::read_to_string(repo_file("docs/cordum-keyspace.md")).unwrap_or_default();
    assert!(
        text(&output.stdout) == committed,
        "docs/cordum-keyspace.md is stale: run `cargo run -p keyschema-cli -- docs > docs/cordum-keyspace.md`"
    );
}

#[test]
fn gen_writes_the_typed_store() {
    let dir = std::env::temp_dir().join(format!("keyschema-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let schema = repo_file("schema/examples/catalog.keys");
    let output = keyschema(&["gen", schema.to_str().unwrap(), "--out", dir.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let code = std::fs::read_to_string(dir.join("catalog.rs")).unwrap();
    assert!(code.starts_with("// This file is @generated by keyschema-codegen"));
    assert!(code.contains("pub struct CatalogStore"));
    // The header names the schema without this machine's path (given absolute: by its file
    // name, wherever the command runs), so committed code is the same whoever generates it.
    let header = code.lines().next().unwrap();
    assert!(header.contains("from catalog.keys."), "{header}");
    let version = format!("keyschema-codegen {} from", env!("CARGO_PKG_VERSION"));
    assert!(header.contains(&version), "{header}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `gen --check` writes nothing and fails when the committed file is missing or stale (a TTL
/// changed in the schema but not regenerated), naming the file and the command that fixes it.
#[test]
fn gen_check_finds_committed_code_out_of_date() {
    let dir = std::env::temp_dir().join(format!("keyschema-gen-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let schema = dir.join("jobs.keys");
    let (out, path) = (dir.to_str().unwrap(), schema.to_str().unwrap());
    std::fs::write(&schema, "param id int\njob:<id> string text ttl 7d \"A job\"\n").unwrap();
    let missing = keyschema(&["gen", path, "--out", out, "--check"], b"");
    assert_eq!(missing.status.code(), Some(1));
    assert!(!dir.join("jobs.rs").exists(), "--check writes nothing");
    assert_eq!(keyschema(&["gen", path, "--out", out], b"").status.code(), Some(0));
    let current = keyschema(&["gen", path, "--out", out, "--check"], b"");
    assert_eq!(current.status.code(), Some(0), "{}", text(&current.stderr));
    std::fs::write(&schema, "param id int\njob:<id> string text ttl 1d \"A job\"\n").unwrap();
    let stale = keyschema(&["gen", path, "--out", out, "--check"], b"");
    assert_eq!(stale.status.code(), Some(1));
    let message = text(&stale.stderr);
    assert!(
        message.contains("jobs.rs is not what") && message.contains("run `keyschema gen"),
        "{message}"
    );
    // Where: the first line that differs, the TTL the committed module still has.
    assert!(
        message.contains("lines differ; line ") && message.contains("has \"millis: ks::Millis(604_800_000)"),
        "{message}"
    );
    assert!(
        message.contains("generates \"millis: ks::Millis(86_400_000)"),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    for args in [&["export"][..], &["docs"][..]] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_keyschema"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command writes, as `| head` does after a line.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert_eq!(text(&output.stderr), "", "{args:?}");
    }
}

#[test]
fn lint_text_never_prints_control_bytes_from_keys() {
    // ESC could recolour or move the cursor of the terminal; NUL and C1 controls likewise.
    let output = keyschema(&["lint"], b"job:state:\x1b[31mred\x00x\ncfg:org:a\xc2\x9bb\n");
    let out = text(&output.stdout);
    assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
    assert!(out.contains("\\u001b[31mred\\u0000x"), "{out}");
    assert!(out.contains("cfg:org:a\\u009bb"), "{out}");
}

#[test]
fn an_unknown_key_name_suggests_the_nearest() {
    let output = keyschema(&["key", "job_stat", "jobID=0f8fad5b-d9cb-469f-a165-70867728950e"], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("no key named `job_stat`; did you mean `job_state`?"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn lint_carries_milliseconds_so_sub_second_ttls_are_not_rounded_away() {
    let schema = temp_file(
        "ms.keys",
        b"ttl t = 1500ms\nk string ttl t \"K\"\nh string ttl 500ms \"H\"\n",
    );
    let schema = schema.to_str().unwrap();
    let output = keyschema(&["lint", "--schema", schema], b"k\nh\n");
    let out = text(&output.stdout);
    assert!(out.contains("ttl 1500ms") && out.contains("ttl 500ms"), "{out}");
    let json = keyschema(&["lint", "--schema", schema, "--format", "json"], b"h\n");
    let result: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        (result["ttl_ms"].as_u64(), result["ttl_seconds"].as_u64()),
        (Some(500), Some(0))
    );
}

#[test]
fn glob_prints_the_scan_glob_of_a_pattern_with_values_fixed() {
    let schema = temp_file(
        "glob.keys",
        b"param tenant text\nparam id int\ncache report:<tenant>:<id> json(R) ttl 1m \"Reports\"\n",
    );
    let schema = schema.to_str().unwrap();
    let glob = |args: &[&str]| {
        let mut all = vec!["glob", "--schema", schema];
        all.extend_from_slice(args);
        let output = keyschema(&all, b"");
        (output.status.code(), text(&output.stdout), text(&output.stderr))
    };
    assert_eq!(glob(&["report"]).1, "report:*:*\n");
    // Values are encoded as in keys (`:` escaped), then escaped for the glob.
    assert_eq!(glob(&["report", "tenant=a:b*"]).1, "report:a%3Ab\\*:*\n");
    let (code, _, stderr) = glob(&["report", "nope=1"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no parameter `nope`"), "{stderr}");
}

#[test]
fn acl_prints_one_user_per_service_and_names_the_services_when_asked_for_another() {
    let file = keyschema(&["acl", "--service", "context-engine", "--format", "file"], b"");
    assert_eq!(file.status.code(), Some(0));
    let text = String::from_utf8(file.stdout).unwrap();
    assert!(text.starts_with("# context-engine: "), "{text}");
    assert!(
        text.contains("\nuser context-engine reset on ~ctx:* ~res:* +"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 2);

    let setuser = keyschema(&["acl"], b"");
    let text = String::from_utf8(setuser.stdout).unwrap();
    assert_eq!(text.matches("ACL SETUSER ").count(), 4, "{text}");

    let unknown = keyschema(&["acl", "--service", "billing"], b"");
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8(unknown.stderr).unwrap();
    assert!(
        stderr.contains(
            "no service named `billing` (the schema declares api-gateway, scheduler, workflow-engine, context-engine)"
        ),
        "{stderr}"
    );
}

/// `diff`: text, JSON and GitHub annotations of a change, the exit code by `--fail-on`, and the
/// old schema read from a git revision.
#[test]
fn diff_reports_a_moved_lock_in_every_format_and_fails_on_the_classes_asked() {
    let dir = std::env::temp_dir().join(format!("keyschema-diff-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (old, new) = (dir.join("old.keys"), dir.join("new.keys"));
    std::fs::write(
        &old,
        "param id uuid\nlock app:lock:<id> ttl 10s \"Per item\"\napp:name:<id> string text ttl 1h \"A name\"\n",
    )
    .unwrap();
    std::fs::write(
        &new,
        "param id uuid\nlock app:lock:{<id>} ttl 10s \"Per item\"\napp:name:<id> string text ttl 1m \"A name\"\n",
    )
    .unwrap();
    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());

    let report = keyschema(&["diff", old, new], b"");
    assert_eq!(report.status.code(), Some(1), "{}", text(&report.stderr));
    let out = text(&report.stdout);
    for expected in [
        "DATA DATA001",
        "CLUSTER CLUSTER001",
        "COORDINATION COORDINATION001",
        "LIFETIME LIFETIME001",
        "app:lock:{",
    ] {
        assert!(out.contains(expected), "{expected}: {out}");
    }
    assert!(out.contains("new.keys:2:1"), "the new position: {out}");
    assert!(
        out.contains("was at") && out.contains("old.keys:2:1"),
        "the old position: {out}"
    );

    // Only the classes asked for fail the command.
    assert_eq!(
        keyschema(&["diff", old, new, "--fail-on", "source"], b"").status.code(),
        Some(0)
    );
    assert_eq!(
        keyschema(&["diff", old, new, "--fail-on", "LIFETIME"], b"")
            .status
            .code(),
        Some(1)
    );
    let bad = keyschema(&["diff", old, new, "--fail-on", "DATA,SPEED"], b"");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("`SPEED` is not a class"),
        "{}",
        text(&bad.stderr)
    );

    let json: serde_json::Value =
        serde_json::from_slice(&keyschema(&["diff", old, new, "--format", "json"], b"").stdout).unwrap();
    assert_eq!(json["version"], 1);
    let lock = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "COORDINATION001")
        .unwrap();
    assert_eq!(lock["class"], "COORDINATION");
    assert_eq!(lock["new"]["line"], 2);
    assert_ne!(lock["witness"]["old_slot"], lock["witness"]["new_slot"]);

    let github = text(&keyschema(&["diff", old, new, "--format", "github"], b"").stdout);
    assert!(github.lines().any(|l| l.starts_with("::error file=") && l.contains(",line=2,col=1,title=COORDINATION COORDINATION001::")), "{github}");
    assert!(
        github
            .lines()
            .any(|l| l.starts_with("::warning ") && l.contains("LIFETIME001")),
        "{github}"
    );

    // Unchanged: exit 0.
    assert_eq!(keyschema(&["diff", old, old], b"").status.code(), Some(0));

    // `--against REV`: the old schema from git, at the new one's path.
    let git = |args: &[&str]| {
        let status = Command::new("git").args(args).current_dir(&dir).output().unwrap();
        assert!(status.status.success(), "git {args:?}: {}", text(&status.stderr));
    };
    git(&["init", "-q"]);
    std::fs::copy(old, dir.join("schema.keys")).unwrap();
    git(&["add", "schema.keys"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "old"]);
    std::fs::copy(new, dir.join("schema.keys")).unwrap();
    let against = Command::new(env!("CARGO_BIN_EXE_keyschema"))
        .args(["diff", "schema.keys", "--against", "HEAD"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let out = text(&against.stdout);
    assert_eq!(against.status.code(), Some(1), "{out}{}", text(&against.stderr));
    assert!(
        out.contains("COORDINATION001") && out.contains("schema.keys@HEAD:2:1"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `gen --previous OLD` writes a store bridged from the previous layout and lists on stderr the
/// keys it cannot bridge; `--check` compares with the bridged output.
#[test]
fn gen_with_a_previous_layout_writes_a_bridged_store() {
    let dir = std::env::temp_dir().join(format!("keyschema-gen-previous-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (old, new) = (dir.join("old.keys"), dir.join("jobs.keys"));
    std::fs::write(
        &old,
        "param id int\njob:<id> string text ttl 7d \"A job\"\nrun:<id> string text ttl 7d \"A run\"\n",
    )
    .unwrap();
    std::fs::write(
        &new,
        "param id int\njob:{<id>} string text ttl 7d \"A job\"\nrun:<id> list text ttl 7d \"A run\"\n",
    )
    .unwrap();
    let (out, path, previous) = (dir.to_str().unwrap(), new.to_str().unwrap(), old.to_str().unwrap());
    let output = keyschema(&["gen", path, "--out", out, "--previous", previous], b"");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let warnings = text(&output.stderr);
    assert_eq!(
        warnings.trim(),
        "warning: `run` is not bridged: its Redis type changes (string to list); copy its keys with \
         `keyschema migrate` before the previous version stops"
    );
    let code = std::fs::read_to_string(dir.join("jobs.rs")).unwrap();
    assert!(code.contains("pub static PREVIOUS") && code.contains("pub fn to_previous_key"));
    let check = keyschema(&["gen", path, "--out", out, "--check", "--previous", previous], b"");
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    let unbridged = keyschema(&["gen", path, "--out", out, "--check"], b"");
    assert_eq!(
        unbridged.status.code(),
        Some(1),
        "without --previous the output differs"
    );
    let missing = keyschema(&["gen", path, "--out", out, "--previous", "nowhere.keys"], b"");
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing.stderr));
    assert!(
        text(&missing.stderr).contains("nowhere.keys"),
        "{}",
        text(&missing.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// `gen --lang go|ts|python` writes the key package; `--check` exits 1 when a file is stale or
/// missing; `--previous` is refused with a language (bridges are the Rust store's).
#[test]
fn gen_with_a_language_writes_and_checks_its_key_package() {
    let dir = std::env::temp_dir().join(format!("keyschema-gen-lang-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let schema = dir.join("jobs.keys");
    std::fs::write(&schema, "param id int\njob:<id> string text ttl 7d \"A job\"\n").unwrap();
    let (out, path) = (dir.to_str().unwrap(), schema.to_str().unwrap());
    for (lang, files) in [
        ("go", &["jobs_keys.go"][..]),
        ("ts", &["jobs-keys.js", "jobs-keys.d.ts"][..]),
        ("python", &["jobs_keys.py"][..]),
    ] {
        let output = keyschema(&["gen", path, "--lang", lang, "--out", out], b"");
        assert_eq!(output.status.code(), Some(0), "{lang}: {}", text(&output.stderr));
        for file in files {
            let content = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(content.contains("from jobs.keys (fingerprint"), "{file}: {content}");
            assert!(text(&output.stdout).contains(file), "{}", text(&output.stdout));
        }
        let check = keyschema(&["gen", path, "--lang", lang, "--out", out, "--check"], b"");
        assert_eq!(check.status.code(), Some(0), "{lang}: {}", text(&check.stderr));
        std::fs::write(dir.join(files[0]), "edited by hand").unwrap();
        let stale = keyschema(&["gen", path, "--lang", lang, "--out", out, "--check"], b"");
        assert_eq!(stale.status.code(), Some(1), "{lang}: an edited file passed the check");
        assert!(text(&stale.stderr).contains(files[0]), "{}", text(&stale.stderr));
    }
    let bridged = keyschema(&["gen", path, "--lang", "go", "--out", out, "--previous", path], b"");
    assert_eq!(bridged.status.code(), Some(2), "{}", text(&bridged.stderr));
    assert!(
        text(&bridged.stderr).contains("--previous"),
        "{}",
        text(&bridged.stderr)
    );
    let unknown = keyschema(&["gen", path, "--lang", "cobol", "--out", out], b"");
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `fmt --check` exits 1 on an unformatted file and writes nothing; `fmt` rewrites it, after
/// which `--check` passes; a schema with errors is refused (exit 2) and left as it was.
#[test]
fn fmt_rewrites_and_checks_schema_files() {
    let dir = std::env::temp_dir().join(format!("keyschema-fmt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jobs.keys");
    let messy = "param   id int\njob:<id>   string text  ttl 7d \"A job\"\n";
    std::fs::write(&file, messy).unwrap();
    let path = file.to_str().unwrap();
    let check = keyschema(&["fmt", "--check", path], b"");
    assert_eq!(check.status.code(), Some(1), "{}", text(&check.stderr));
    assert!(
        text(&check.stderr).contains("jobs.keys is not formatted"),
        "{}",
        text(&check.stderr)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), messy, "--check wrote the file");
    let write = keyschema(&["fmt", path], b"");
    assert_eq!(write.status.code(), Some(0), "{}", text(&write.stderr));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "param id int\njob:<id> string text ttl 7d \"A job\"\n"
    );
    assert_eq!(keyschema(&["fmt", "--check", path], b"").status.code(), Some(0));
    let broken = "param id int\njob:<nope> string text \"A job\"\n";
    std::fs::write(&file, broken).unwrap();
    let refused = keyschema(&["fmt", path], b"");
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("nope"), "{}", text(&refused.stderr));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), broken);
    let _ = std::fs::remove_dir_all(&dir);
}
