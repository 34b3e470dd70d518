// The generated TypeScript package of the Cordum schema, used as a Node service would:
// `node --test examples/languages/ts/`.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as cordum from "./cordum-keys.js";

const jobID = "0f8fad5b-d9cb-469f-a165-70867728950e";
const runID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";

test("keys are formatted as Cordum's services concatenate them", () => {
  assert.equal(cordum.jobState.format(jobID), "job:state:" + jobID);
  assert.equal(cordum.jobState.format({ layout: 1, runID, stepID: "step-1", attempt: 2 }), `job:state:${runID}:step-1@2`);
  assert.equal(cordum.jobIndex.format("RUNNING"), "job:index:running");
  assert.equal(cordum.loginFailed.format("alice", "10.0.0.1"), "login:failed:alice:10.0.0.1");
  assert.equal(cordum.cordumRl.format("acme", 1700000000n), "cordum:rl:acme:1700000000");
  assert.equal(cordum.cordumRl.format("acme", 1700000000), "cordum:rl:acme:1700000000");
});

test("values concatenation would confuse are escaped, and read back", () => {
  const a = cordum.user.format("a:b", "c");
  const b = cordum.user.format("a", "b:c");
  assert.notEqual(a, b);
  assert.equal(a, "user:a%3Ab:c");
  const match = cordum.parse(a);
  assert.equal(match.key, cordum.user);
  assert.deepEqual(match.values, { tenant: "a:b", username: "c" });
  assert.equal(match.slot, cordum.slot(a));
  assert.equal(cordum.loginFailed.format("alice", "2001:db8::1"), "login:failed:alice:2001%3Adb8%3A%3A1");
});

test("a brace in a value cannot move a key to another slot", () => {
  assert.equal(cordum.slot("job:tenant:active:x{acme}"), cordum.slot("acme"));
  const key = cordum.jobTenantActive.format("x{acme}");
  assert.equal(key, "job:tenant:active:x%7Bacme%7D");
  assert.notEqual(cordum.slot(key), cordum.slot("acme"));
});

test("refused values throw FormatError naming the key and the parameter", () => {
  assert.throws(() => cordum.jobState.format(jobID.toUpperCase()), { name: "FormatError", key: "job_state", param: "jobID" });
  assert.throws(() => cordum.user.format("", "alice"), cordum.FormatError);
  assert.throws(() => cordum.jobIndex.format("running"), cordum.FormatError);
  assert.throws(() => cordum.cordumRl.format("acme", 1.5), cordum.FormatError);
  assert.throws(() => cordum.user.format("\ud800", "alice"), /not valid Unicode/);
  assert.throws(() => cordum.parse("nope:1"), cordum.ParseError);
});

test("TTLs resolve as the Rust store resolves them", () => {
  const env = {};
  assert.equal(cordum.jobState.ttl.resolve((name) => env[name]), 604800000n);
  env.JOB_META_TTL_SECONDS = " 60 ";
  assert.equal(cordum.jobState.ttl.resolve((name) => env[name]), 60000n);
  env.JOB_META_TTL_SECONDS = "0";
  assert.throws(() => cordum.jobState.ttl.resolve((name) => env[name]), cordum.TtlError);
  assert.equal(cordum.wfDef.ttl.resolve(), null);
  assert.equal(cordum.cordumReconcilerDefault.ttl.env, "RECONCILER_POLL_INTERVAL_SECONDS");
});

test("metadata comes from the schema", () => {
  assert.equal(cordum.jobMeta.redisType, "hash");
  assert.deepEqual(cordum.jobMeta.fields, ["tenant", "principal", "topic", "labels"]);
  assert.equal(cordum.jobState.codec, "json(JobState)");
  assert.equal(cordum.keyNamed("wf_run_timeline").redisType, "list");
  assert.equal(cordum.keys.length, 68);
  assert.equal(cordum.keyspace, "cordum");
});

test("a Uuid is checked once by Uuid.parse, and formats as its string does", () => {
  const id = cordum.Uuid.parse(jobID.toUpperCase());
  assert.equal(String(id), jobID, "kept lowercase, as keys write it");
  assert.equal(JSON.stringify({ id }), JSON.stringify({ id: jobID }));
  // Every key whose one parameter is jobID (a uuid, or one of its layouts).
  const jobKeys = cordum.keys.filter((key) => (key.pattern.match(/<[^>]+>/g) ?? []).join() === "<jobID>");
  assert.ok(jobKeys.length >= 10, `${jobKeys.length} keys`);
  for (const key of jobKeys) assert.equal(key.format(id), key.format(jobID), key.name);
  // A Uuid is not text: a text parameter refuses it.
  assert.throws(() => cordum.wfDef.format(id), { name: "FormatError", param: "workflowID" });
  assert.equal(cordum.jobState.format({ layout: 1, runID: cordum.Uuid.parse(runID), stepID: "step-1", attempt: 2 }), `job:state:${runID}:step-1@2`);
  for (const bad of ["", jobID.slice(1), `{${jobID}}`, jobID.replaceAll("-", ""), jobID.replace("0", "g"), 42, null]) {
    assert.throws(() => cordum.Uuid.parse(bad), TypeError, String(bad));
  }
  // Only parse makes one: neither `new` nor a look-alike object passes for a checked uuid.
  assert.throws(() => new cordum.Uuid(jobID), TypeError);
  const fake = Object.create(cordum.Uuid.prototype);
  assert.throws(() => cordum.jobState.format(fake), { name: "FormatError", key: "job_state", param: "jobID" });
});
