// Checks generated TypeScript/JavaScript key packages against the conformance corpus the Rust
// codec wrote: `node harness.mjs NAME=MODULE.js=CORPUS.jsonl ...`. Prints "NAME: agree N of M"
// per corpus and each disagreement; exits 1 on any.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";

function parsed(pkg, key) {
  try {
    const match = pkg.parse(key);
    return { key: match.key.name, values: match.values, slot: match.slot };
  } catch (error) {
    if (!(error instanceof pkg.ParseError)) throw error;
    return { error: true };
  }
}

function check(pkg, v) {
  switch (v.op) {
    case "format": {
      let key;
      try {
        key = pkg.keyNamed(v.key).formatValues(v.values);
      } catch (error) {
        if (!(error instanceof pkg.FormatError)) throw error;
        if (error.key !== v.key) return `format ${v.key}: the error names key ${error.key}: ${error.message}`;
        return v.expect.error ? "" : `format ${v.key} ${JSON.stringify(v.values)}: ${error.message}; want ${JSON.stringify(v.expect.key)}`;
      }
      if (v.expect.error) return `format ${v.key} ${JSON.stringify(v.values)}: got ${JSON.stringify(key)}; want an error`;
      if (key !== v.expect.key || pkg.slot(key) !== v.expect.slot) {
        return `format ${v.key}: got ${JSON.stringify(key)} slot ${pkg.slot(key)}; want ${JSON.stringify(v.expect.key)} slot ${v.expect.slot}`;
      }
      const got = parsed(pkg, key);
      return isDeepStrictEqual(got, v.expect.parsed) ? "" : `parse ${JSON.stringify(key)}: got ${JSON.stringify(got)}; want ${JSON.stringify(v.expect.parsed)}`;
    }
    case "parse": {
      const got = parsed(pkg, v.input);
      return isDeepStrictEqual(got, v.expect) ? "" : `parse ${JSON.stringify(v.input)}: got ${JSON.stringify(got)}; want ${JSON.stringify(v.expect)}`;
    }
    case "ttl": {
      let got;
      try {
        const millis = pkg.keyNamed(v.key).ttl.resolve((name) => v.env[name]);
        got = millis === null ? "never" : String(millis);
      } catch (error) {
        if (!(error instanceof pkg.TtlError)) throw error;
        got = "error";
      }
      const want = v.expect.error ? "error" : v.expect.never ? "never" : v.expect.millis;
      return got === want ? "" : `ttl ${v.key} ${JSON.stringify(v.env)}: got ${got}; want ${want}`;
    }
  }
  return `unknown op ${v.op}`;
}

let failed = false;
for (const arg of process.argv.slice(2)) {
  const [name, module, corpus] = arg.split("=");
  const pkg = await import(pathToFileURL(module).href);
  let total = 0;
  let agree = 0;
  let shown = 0;
  for (const line of readFileSync(corpus, "utf8").split("\n")) {
    if (line === "") continue;
    total++;
    const problem = check(pkg, JSON.parse(line));
    if (problem === "") agree++;
    else if (shown++ < 20) console.log(`  ${problem}`);
  }
  console.log(`${name}: agree ${agree} of ${total}`);
  failed ||= agree !== total;
}
process.exit(failed ? 1 : 0);
