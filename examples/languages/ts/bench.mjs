// Formatting a key with the package against the concatenation a service writes by hand:
// `node bench.mjs` (figures in docs/benchmarks.md). Each case runs ROUNDS rounds of N calls,
// alternating hand-written and package, and prints the median of each and their ratio.
//
// A key is built to be sent: both sides read the key's last character, which makes V8 flatten
// the concatenation as a Redis client's encoding of the key would. Values change per call (1,024
// of each, flat strings as a JSON request gives them) so neither side is folded to a constant.
import { jobState, user, Uuid } from "./cordum-keys.js";

const N = 1_000_000;
const ROUNDS = Number(process.env.ROUNDS ?? 15);
const ids = JSON.parse(JSON.stringify(Array.from({ length: 1024 }, (_, i) => `0f8fad5b-d9cb-469f-a165-7086772${10000 + i}`)));
// The same ids parsed once, where a service receives them (`Uuid.parse(request.jobId)`).
const uuids = ids.map((id) => Uuid.parse(id));
const tenants = JSON.parse(JSON.stringify(Array.from({ length: 1024 }, (_, i) => `acme${i}`)));
const usernames = JSON.parse(JSON.stringify(Array.from({ length: 1024 }, (_, i) => `alice${(i * 7) & 1023}`)));

// One loop per case, so each call site sees one function.
function handUuid() {
  let sink = 0;
  for (let i = 0; i < N; i++) {
    const key = "job:state:" + ids[i & 1023];
    sink += key.charCodeAt(key.length - 1);
  }
  return sink;
}

function packageUuid() {
  let sink = 0;
  for (let i = 0; i < N; i++) {
    const key = jobState.format(ids[i & 1023]);
    sink += key.charCodeAt(key.length - 1);
  }
  return sink;
}

function packageParsedUuid() {
  let sink = 0;
  for (let i = 0; i < N; i++) {
    const key = jobState.format(uuids[i & 1023]);
    sink += key.charCodeAt(key.length - 1);
  }
  return sink;
}

function handText() {
  let sink = 0;
  for (let i = 0; i < N; i++) {
    const key = "user:" + tenants[i & 1023] + ":" + usernames[i & 1023];
    sink += key.charCodeAt(key.length - 1);
  }
  return sink;
}

function packageText() {
  let sink = 0;
  for (let i = 0; i < N; i++) {
    const key = user.format(tenants[i & 1023], usernames[i & 1023]);
    sink += key.charCodeAt(key.length - 1);
  }
  return sink;
}

function nanos(loop) {
  const start = process.hrtime.bigint();
  if (loop() === 0) throw new Error("nothing formatted");
  return Number(process.hrtime.bigint() - start) / N;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

for (const [name, hand, ours] of [
  ["job:state:<jobID> (a uuid string, checked per call)", handUuid, packageUuid],
  ["job:state:<jobID> (a Uuid, checked once by Uuid.parse)", handUuid, packageParsedUuid],
  ["user:<tenant>:<username> (two texts)", handText, packageText],
]) {
  const handTimes = [];
  const ourTimes = [];
  for (let round = 0; round < ROUNDS; round++) {
    handTimes.push(nanos(hand));
    ourTimes.push(nanos(ours));
  }
  const [h, o] = [median(handTimes), median(ourTimes)];
  console.log(`${name}: hand-written ${h.toFixed(1)} ns, package ${o.toFixed(1)} ns, ratio ${(o / h).toFixed(2)}`);
}
