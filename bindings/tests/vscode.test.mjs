// The VS Code extension folder (bindings/vscode): its manifest names the language, the grammar
// and the server, and the grammar's rules compile and find what they name in the Cordum schema.
// The server itself is tested by a scripted LSP client (cli/tests/lsp.rs).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const folder = new URL("../vscode/", import.meta.url);
const json = (name) => JSON.parse(readFileSync(new URL(name, folder), "utf8"));

test("the manifest contributes the language, its grammar and the server's setting", () => {
  const manifest = json("package.json");
  const language = manifest.contributes.languages[0];
  assert.deepEqual(language.extensions, [".keys"]);
  assert.equal(manifest.contributes.grammars[0].language, language.id);
  json(manifest.contributes.grammars[0].path);
  json(language.configuration);
  assert.equal(manifest.contributes.configuration.properties["keyschema.server.path"].default, "keyschema");
  assert.match(readFileSync(new URL("extension.js", folder), "utf8"), /args: \["lsp"\]/);
});

test("the grammar's rules compile and match the Cordum schema", () => {
  const grammar = json("syntaxes/keyschema.tmLanguage.json");
  const rule = (name) => new RegExp(grammar.repository[name].match, "m");
  const cordum = readFileSync(new URL("../../schema/examples/cordum.keys", import.meta.url), "utf8").split("\n");
  const line = (start) => cordum.find((l) => l.trimStart().startsWith(start));
  assert.deepEqual(rule("declaration").exec(line("param jobID")).slice(1, 3), ["param", "jobID"]);
  assert.deepEqual(rule("declaration").exec(line("ttl job_meta")).slice(1, 3), ["ttl", "job_meta"]);
  assert.equal(rule("placeholder").exec(line("job:state:<jobID>"))[0], "<jobID>");
  assert.equal(rule("comment").exec(line("# The Cordum keyspace"))[0].slice(0, 5), "# The");
  assert.equal(rule("comment").exec("job:a#b string text"), null, "a # inside a word is not a comment");
  assert.equal(rule("duration").exec(line("ttl data"))[0], "24h");
  for (const name of ["keyword", "type", "number"]) rule(name);
});
