//! `keyschema lsp` driven by a scripted client, as an editor drives it: initialize, open the
//! Cordum schema, edit it, and ask for hover, definition, references, symbols, completion and
//! formatting; then shut down. Hover facts are checked against `keyschema::service` and the
//! lint facts (slot, TTL) of every key of the Cordum schema.
//!
//! The latency of diagnostics after an edit is printed (not asserted: figures belong in
//! docs/benchmarks.md): `cargo test --release -p keyschema-cli --test lsp -- --nocapture`.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const URI: &str = "file:///work/cordum.keys";

struct Client {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    next_id: i64,
}

impl Drop for Client {
    fn drop(&mut self) {
        // A failed test leaves no server behind (it would hold the test's output open).
        let _ = self.child.kill();
    }
}

impl Client {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keyschema"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (send, messages) = channel();
        std::thread::spawn(move || loop {
            let mut length = 0;
            loop {
                let mut line = String::new();
                if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
                if let Some(n) = line.strip_prefix("Content-Length: ") {
                    length = n.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            stdout.read_exact(&mut body).unwrap();
            if send.send(serde_json::from_slice(&body).unwrap()).is_err() {
                return;
            }
        });
        Self {
            child,
            stdin,
            messages,
            next_id: 1,
        }
    }

    fn send(&mut self, message: &Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let message = self.receive();
            if message["id"] == json!(id) {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
        }
    }

    fn receive(&self) -> Value {
        self.messages
            .recv_timeout(Duration::from_secs(10))
            .expect("the server answered within 10 s")
    }

    /// The next diagnostics published.
    fn diagnostics(&self) -> Vec<Value> {
        loop {
            let message = self.receive();
            if message["method"] == "textDocument/publishDiagnostics" {
                return message["params"]["diagnostics"].as_array().unwrap().clone();
            }
        }
    }
}

/// The byte offset of the first occurrence of `needle` on a line that is not a comment.
fn declared_at(text: &str, needle: &str) -> Option<usize> {
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        if !line.trim_start().starts_with('#') {
            if let Some(i) = line.find(needle) {
                return Some(line_start + i);
            }
        }
        line_start += line.len();
    }
    None
}

fn cordum() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/examples/cordum.keys")).unwrap()
}

/// The LSP position (0-based line, UTF-16 column) of the first occurrence of `needle` in `text`
/// outside comments, plus `shift` characters.
fn position(text: &str, needle: &str, shift: usize) -> Value {
    let at = declared_at(text, needle).unwrap_or_else(|| panic!("no {needle}")) + shift;
    let line = text[..at].matches('\n').count();
    let column = text[..at].rsplit('\n').next().unwrap().encode_utf16().count();
    json!({"line": line, "character": column})
}

#[test]
fn a_scripted_client_gets_every_service_of_the_language_server() {
    let source = cordum();
    let mut client = Client::start();
    let capabilities = client.request(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    for capability in [
        "hoverProvider",
        "definitionProvider",
        "referencesProvider",
        "documentSymbolProvider",
        "documentFormattingProvider",
        "completionProvider",
    ] {
        assert!(
            !capabilities["capabilities"][capability].is_null(),
            "{capability}: {capabilities}"
        );
    }
    assert_eq!(
        capabilities["capabilities"]["textDocumentSync"],
        json!(2),
        "incremental sync"
    );
    client.notify("initialized", json!({}));

    // Opening: exactly `check`'s diagnostics (the Cordum schema's 15 warnings, with related locations).
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "keyschema", "version": 1, "text": source}}),
    );
    let opened = client.diagnostics();
    let checked = keyschema::Schema::parse(&source, "cordum.keys").unwrap();
    assert_eq!(opened.len(), checked.warnings().len());
    assert!(opened.iter().all(|d| d["severity"] == json!(2)), "warnings");
    assert!(opened
        .iter()
        .any(|d| !d["relatedInformation"].as_array().unwrap().is_empty()));

    // An edit that breaks the schema: the error at the right place, within one publish.
    let typo_at = position(&source, "json(JobState)", 0);
    let mut latencies = Vec::new();
    let started = Instant::now();
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [
            {"range": {"start": typo_at, "end": {"line": typo_at["line"], "character": typo_at["character"].as_u64().unwrap() + 4}}, "text": "jsn"}
        ]}),
    );
    let broken = client.diagnostics();
    latencies.push(started.elapsed());
    let error = broken.iter().find(|d| d["severity"] == json!(1)).expect("an error");
    assert_eq!(error["range"]["start"]["line"], typo_at["line"], "{error}");
    // Undone: the warnings again.
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 3}, "contentChanges": [{"text": source}]}),
    );
    assert_eq!(client.diagnostics().len(), opened.len());

    // Hover on every key of the Cordum schema: its slot and TTL, as the lint facts say.
    let document = keyschema::service::Document::new(&source, "cordum.keys");
    let model = checked.model();
    let mut hovered = 0;
    for def in &model.keys {
        let Some(at) = declared_at(&source, &format!("{} ", def.pattern.template)) else {
            continue;
        };
        let hover = client.request(
            "textDocument/hover",
            json!({"textDocument": {"uri": URI}, "position": position(&source, &format!("{} ", def.pattern.template), 1)}),
        );
        let text = hover["contents"]["value"]
            .as_str()
            .unwrap_or_else(|| panic!("no hover on {} at {at}", def.name));
        let facts = keyschema::KeyFacts::of(def);
        let example = keyschema::service::example_key(&checked, def).unwrap();
        let slot = keyschema::key_slot(example.as_bytes());
        assert!(
            text.contains(&format!("`{example}` (slot {slot})")),
            "{}: {text}",
            def.name
        );
        match facts.ttl_ms {
            Some(ms) => assert!(text.contains(&format!("{ms} ms by default")), "{}: {text}", def.name),
            None => assert!(text.contains("TTL: none"), "{}: {text}", def.name),
        }
        assert_eq!(Some(text.to_string()), document.key_facts(&def.name));
        hovered += 1;
    }
    assert!(hovered >= 50, "hovered {hovered} keys");

    // Definition of a placeholder: its `param` declaration; references: every use.
    let use_at = position(&source, "job:state:<jobID>", 11);
    let definition = client.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": URI}, "position": use_at}),
    );
    assert_eq!(
        definition["range"]["start"],
        position(&source, "jobID      uuid", 0),
        "{definition}"
    );
    let references = client.request(
        "textDocument/references",
        json!({"textDocument": {"uri": URI}, "position": use_at, "context": {"includeDeclaration": true}}),
    );
    // The declaration, 13 placeholders and the members of 5 indexes.
    assert_eq!(references.as_array().unwrap().len(), 18, "{references}");
    // A TTL name used by a group goes to its declaration.
    let ttl_use = position(&source, "group job ttl job_meta", 14);
    let ttl = client.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": URI}, "position": ttl_use}),
    );
    assert_eq!(ttl["range"]["start"], position(&source, "job_meta   =", 0), "{ttl}");

    // The outline: groups with their keys.
    let symbols = client.request("textDocument/documentSymbol", json!({"textDocument": {"uri": URI}}));
    let job = symbols
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "job")
        .expect("the job group");
    assert!(
        job["children"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["name"] == "job:state:<jobID>"),
        "{job}"
    );

    // Completion after `<`: the parameters.
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 4}, "contentChanges": [{"text": format!("{source}\nextra:<")}]}),
    );
    client.diagnostics();
    let lines = source.lines().count() + 1;
    let items = client.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": URI}, "position": {"line": lines, "character": 7}}),
    );
    assert!(
        items.as_array().unwrap().iter().any(|i| i["label"] == "jobID"),
        "{items}"
    );

    // Formatting: an edit to the canonical layout, which formats to itself.
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 5}, "contentChanges": [{"text": "param   id int\nthing:<id>   string text \"A thing\"\n"}]}),
    );
    client.diagnostics();
    let edits = client.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": URI}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert_eq!(
        edits[0]["newText"],
        json!("param id int\nthing:<id> string text \"A thing\"\n"),
        "{edits}"
    );

    // Diagnostics latency over 40 single-character edits of the Cordum schema.
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 6}, "contentChanges": [{"text": source}]}),
    );
    client.diagnostics();
    let purpose = position(&source, "\"Job state (PENDING", 1);
    for round in 0..40 {
        let started = Instant::now();
        client.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": URI, "version": 7 + round}, "contentChanges": [
                {"range": {"start": purpose, "end": purpose}, "text": "x"}
            ]}),
        );
        client.diagnostics();
        latencies.push(started.elapsed());
    }
    latencies.sort();
    println!(
        "diagnostics after an edit of the Cordum schema: p50 {:?}, p95 {:?}, max {:?} ({} edits)",
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 95 / 100],
        latencies[latencies.len() - 1],
        latencies.len()
    );

    // Parameters the server cannot read: an error for that request, and the server goes on.
    client.send(&json!({"jsonrpc": "2.0", "id": 999, "method": "textDocument/hover", "params": {"nope": 1}}));
    client.notify("textDocument/didChange", json!({"nonsense": true}));
    let refused = loop {
        let message = client.receive();
        if message["id"] == json!(999) {
            break message;
        }
    };
    assert_eq!(refused["error"]["code"], json!(-32602), "{refused}");
    let symbols = client.request("textDocument/documentSymbol", json!({"textDocument": {"uri": URI}}));
    assert!(
        !symbols.as_array().unwrap().is_empty(),
        "the server still serves: {symbols}"
    );

    client.request("shutdown", Value::Null);
    client.notify("exit", Value::Null);
    let status = client.child.wait().unwrap();
    assert!(status.success(), "{status}");
}
