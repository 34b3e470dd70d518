// A lint corpus: keys of every Cordum pattern (formatted by the schema itself), hostile values,
// and malformed keys.
export function corpus(schema) {
  const model = schema.toJSON();
  const samples = {
    text: ["acme", "a:b", "{tag}", "100%", "ünï😀", "line\nbreak"],
    ident: ["step-1", "a.b_c"],
    int: ["0", "-42", "9223372036854775807"],
    uuid: ["0f8fad5b-d9cb-469f-a165-70867728950e", "00000000-0000-0000-0000-000000000000"],
    unix_seconds: ["0", "1700000000"],
    ip: ["10.0.0.1", "2001:db8::1"],
  };
  const keys = [];
  for (const key of model.keys) {
    const names = key.pattern.parts.filter((p) => p.kind === "param").map((p) => model.params[p.value]);
    for (let i = 0; i < 24; i++) {
      const values = {};
      for (const param of names) {
        const options = param.type.kind === "enum" ? param.type.variants : samples[param.type.kind];
        values[param.name] = options[(i + param.name.length) % options.length];
      }
      keys.push(schema.formatKey(key.name, values));
    }
  }
  keys.push(
    "", "nope", "job:state:", "job:state:NOT-A-UUID", "job:index:RUNNING", "job:stat:x", "session:bad%ZZ",
    "session:%41", "session:a{b}", "job:idempotency:legacy:raw:colons", "job:events:0f8fad5b-d9cb-469f-a165-70867728950e:step@1",
    "login:failed:global:10.0.0.7", "login:failed:bob:::1", "wf:runs:all", "user:id:0f8fad5b-d9cb-469f-a165-70867728950e",
    "cordum:rl:acme:-5", "a".repeat(70000), Array(70).fill("x").join(":"), "ключ:значение", "tab\there",
  );
  return keys;
}
