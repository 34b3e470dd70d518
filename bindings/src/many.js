// `lintMany`'s JavaScript half. The keys cross into WebAssembly as one string, and the results
// come back in bulk: per key its definition's index and slot, one JSON array of the matched keys'
// parameters, and full results only for the keys that need them (problems, ambiguities). The
// objects are built here with one shape, which is several times faster than parsing each whole
// result from JSON.

export function joinKeys(keys) {
  if (!Array.isArray(keys)) throw new TypeError("lintMany takes an array of strings");
  for (let i = 0; i < keys.length; i++) {
    if (typeof keys[i] !== "string") throw new TypeError(`lintMany: key ${i} is not a string`);
  }
  return keys.join("\n");
}

// `definitions[i]` is the index in `facts` of key i's definition, or -1 when key i's result is
// the next one of `full`; a matched key's parameters are the next entry of `params`.
export function buildResults(keys, definitions, slots, factsJson, paramsJson, fullJson) {
  const facts = JSON.parse(factsJson);
  const params = JSON.parse(paramsJson);
  const full = JSON.parse(fullJson);
  const results = new Array(keys.length);
  let nextParams = 0;
  let nextFull = 0;
  for (let i = 0; i < keys.length; i++) {
    const definition = definitions[i];
    if (definition < 0) {
      results[i] = full[nextFull++];
      continue;
    }
    const fact = facts[definition];
    // The fields in the order of `keyschema lint --format json`.
    results[i] = {
      key: keys[i],
      name: fact.name,
      pattern: fact.pattern,
      params: params[nextParams++],
      slot: slots[i],
      type: fact.type,
      ttl_seconds: fact.ttl_seconds,
      ttl_ms: fact.ttl_ms,
      also_matches: [],
      problems: [],
    };
  }
  return results;
}
