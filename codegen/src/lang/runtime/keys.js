
// The runtime every generated package carries: the key codec, the matcher's walk, cluster slots
// and TTL resolution, written to give byte for byte what keyschema's Rust codec gives.

/** The longest key, in UTF-8 bytes, that keyschema formats. */
export const MAX_KEY_LEN = 64 * 1024;

/** Why a key could not be formatted. */
export class FormatError extends Error {
  constructor(key, param, reason) {
    super(param === null ? `key ${key}: ${reason}` : `invalid value for ${param} of key ${key}: ${reason}`);
    this.name = "FormatError";
    this.key = key;
    this.param = param;
    this.reason = reason;
  }
}

/** Why a key matches no pattern of the schema. */
export class ParseError extends Error {
  constructor(key, reason) {
    super(`key ${JSON.stringify(key)}: ${reason}`);
    this.name = "ParseError";
    this.key = key;
    this.reason = reason;
  }
}

/** Why an environment variable could not give a TTL. */
export class TtlError extends Error {
  constructor(variable, value, reason) {
    super(`environment variable ${variable}=${JSON.stringify(value)} ${reason}`);
    this.name = "TtlError";
    this.variable = variable;
    this.value = value;
    this.reason = reason;
  }
}

const HEX = "0123456789ABCDEF";

function mustEscape(c) {
  return c === SEPARATOR || c === 0x7b || c === 0x7d || c === 0x25 || c < 0x20 || c === 0x7f;
}

/** `value` with the separator, braces, `%` and control bytes written `%XX`. */
function escapeValue(value) {
  let out = "";
  let clean = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80 && mustEscape(c)) {
      out += value.slice(clean, i) + "%" + HEX[c >> 4] + HEX[c & 0xf];
      clean = i + 1;
    }
  }
  return clean === 0 ? value : out + value.slice(clean);
}

function hexValue(c) {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** The decoded value, or `null` when `encoded` is not in its one canonical form. */
function unescapeValue(encoded, spans) {
  let out = "";
  let clean = 0;
  for (let i = 0; i < encoded.length; i++) {
    const c = encoded.charCodeAt(i);
    if (c === 0x25) {
      const high = hexValue(encoded.charCodeAt(i + 1));
      const low = hexValue(encoded.charCodeAt(i + 2));
      if (high < 0 || low < 0 || !mustEscape((high << 4) | low)) return null;
      out += encoded.slice(clean, i) + String.fromCharCode((high << 4) | low);
      i += 2;
      clean = i + 1;
    } else if (c < 0x80 && mustEscape(c) && !(spans && c === SEPARATOR)) {
      return null;
    }
  }
  return clean === 0 ? encoded : out + encoded.slice(clean);
}

const LONE_SURROGATE = /\p{Surrogate}/u;
const IDENT = /^[A-Za-z0-9_.-]+$/;
const CANONICAL_INT = /^(0|-?[1-9][0-9]*)$/;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** A canonical decimal in the signed 64-bit range. */
function isCanonicalInt(text) {
  if (!CANONICAL_INT.test(text)) return false;
  const n = BigInt(text);
  return n >= I64_MIN && n <= I64_MAX;
}

const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

/** The eight groups of an IPv6 address, or `null`. */
function ipv6Groups(text) {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = [];
  for (const half of halves) {
    const parts = half === "" ? [] : half.split(":");
    const out = [];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (i === parts.length - 1 && half === halves[halves.length - 1] && part.includes(".")) {
        if (!IPV4.test(part)) return null;
        const [a, b, c, d] = part.split(".").map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(part)) {
        out.push(parseInt(part, 16));
      } else {
        return null;
      }
    }
    groups.push(out);
  }
  if (groups.length === 1) return groups[0].length === 8 ? groups[0] : null;
  const missing = 8 - groups[0].length - groups[1].length;
  if (missing < 1) return null;
  return [...groups[0], ...new Array(missing).fill(0), ...groups[1]];
}

/** An IPv6 address as Rust writes it: IPv4-mapped in dotted form, else RFC 5952. */
function ipv6Text(groups) {
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${groups[6] >> 8}.${groups[6] & 0xff}.${groups[7] >> 8}.${groups[7] & 0xff}`;
  }
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = (list) => list.map((g) => g.toString(16)).join(":");
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLength))}`;
}

/** Whether `text` is an IP address in its one canonical form. */
function isCanonicalIp(text) {
  if (IPV4.test(text)) return true;
  const groups = ipv6Groups(text);
  return groups !== null && ipv6Text(groups) === text;
}

const encoder = new TextEncoder();

/** The length of `text` in UTF-8 bytes. */
function utf8Length(text) {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1;
  }
  return n;
}

// The encoders give a value's key form: checked as the Rust codec checks it, and escaped. A value
// that needs no escape is answered as it is, so formatting a key is one concatenation.

function fail(key, p, reason) {
  throw new FormatError(key.name, PARAMS[p].name, reason);
}

/** Per ASCII code: 1 when it is written `%XX`. */
const ESCAPED = new Uint8Array(128).map((_, c) => (mustEscape(c) ? 1 : 0));

function encodeText(key, p, value) {
  if (typeof value !== "string") fail(key, p, `${describe(value)} is not a string`);
  if (value === "") fail(key, p, "empty value");
  const except = PARAMS[p].except;
  if (except.length !== 0 && except.includes(value)) fail(key, p, `${JSON.stringify(value)} is excluded for this parameter`);
  // One pass finds what the value needs: an escape (1), a check of its surrogates (2).
  let needs = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    needs |= c < 128 ? ESCAPED[c] : c >= 0xd800 && c <= 0xdfff ? 2 : 0;
  }
  if ((needs & 2) !== 0 && LONE_SURROGATE.test(value)) fail(key, p, `${JSON.stringify(value)} is not valid Unicode`);
  return (needs & 1) !== 0 ? escapeValue(value) : value;
}

function encodeIdent(key, p, value) {
  if (typeof value !== "string" || !IDENT.test(value)) fail(key, p, `${describe(value)} is not an ident ([A-Za-z0-9_.-]+)`);
  return encodeText(key, p, value);
}

function encodeInt(key, p, value) {
  const ok = typeof value === "bigint" ? value >= I64_MIN && value <= I64_MAX : Number.isSafeInteger(value);
  if (!ok) fail(key, p, `${describe(value)} is not an int (a safe integer or a 64-bit bigint)`);
  const text = String(value);
  const except = PARAMS[p].except;
  if (except.length !== 0 && except.includes(text)) fail(key, p, `${JSON.stringify(text)} is excluded for this parameter`);
  return SEPARATOR === 0x2d || (SEPARATOR >= 0x30 && SEPARATOR <= 0x39) ? escapeValue(text) : text;
}

function encodeUnixSeconds(key, p, value) {
  if ((typeof value === "bigint" || typeof value === "number") && value < 0) {
    fail(key, p, `${String(value)} is not a unix_seconds (non-negative)`);
  }
  return encodeInt(key, p, value);
}

/** Whether a canonical uuid can hold the separator. */
const UUID_NEEDS_ESCAPE = SEPARATOR === 0x2d || (SEPARATOR >= 0x30 && SEPARATOR <= 0x39) || (SEPARATOR >= 0x61 && SEPARATOR <= 0x66);

/** Per UTF-16 unit: 0 for a lowercase hex digit, 1 for everything else. */
const NOT_HEX = new Uint8Array(65536).fill(1).map((one, c) => ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) ? 0 : one));

/** A canonical uuid: lowercase hex digits, hyphens at 8, 13, 18 and 23. Unrolled: a loop costs
 * twice as much in V8, and this check is most of what formatting a uuid key costs. */
function isCanonicalUuid(value) {
  return (
    value.length === 36 &&
    (
      NOT_HEX[value.charCodeAt(0)] |
      NOT_HEX[value.charCodeAt(1)] |
      NOT_HEX[value.charCodeAt(2)] |
      NOT_HEX[value.charCodeAt(3)] |
      NOT_HEX[value.charCodeAt(4)] |
      NOT_HEX[value.charCodeAt(5)] |
      NOT_HEX[value.charCodeAt(6)] |
      NOT_HEX[value.charCodeAt(7)] |
      (value.charCodeAt(8) ^ 0x2d) |
      NOT_HEX[value.charCodeAt(9)] |
      NOT_HEX[value.charCodeAt(10)] |
      NOT_HEX[value.charCodeAt(11)] |
      NOT_HEX[value.charCodeAt(12)] |
      (value.charCodeAt(13) ^ 0x2d) |
      NOT_HEX[value.charCodeAt(14)] |
      NOT_HEX[value.charCodeAt(15)] |
      NOT_HEX[value.charCodeAt(16)] |
      NOT_HEX[value.charCodeAt(17)] |
      (value.charCodeAt(18) ^ 0x2d) |
      NOT_HEX[value.charCodeAt(19)] |
      NOT_HEX[value.charCodeAt(20)] |
      NOT_HEX[value.charCodeAt(21)] |
      NOT_HEX[value.charCodeAt(22)] |
      (value.charCodeAt(23) ^ 0x2d) |
      NOT_HEX[value.charCodeAt(24)] |
      NOT_HEX[value.charCodeAt(25)] |
      NOT_HEX[value.charCodeAt(26)] |
      NOT_HEX[value.charCodeAt(27)] |
      NOT_HEX[value.charCodeAt(28)] |
      NOT_HEX[value.charCodeAt(29)] |
      NOT_HEX[value.charCodeAt(30)] |
      NOT_HEX[value.charCodeAt(31)] |
      NOT_HEX[value.charCodeAt(32)] |
      NOT_HEX[value.charCodeAt(33)] |
      NOT_HEX[value.charCodeAt(34)] |
      NOT_HEX[value.charCodeAt(35)]) === 0
  );
}

/** The text of a `Uuid`, or `undefined` for any other value (a look-alike object included). */
let uuidText;
const MAKE_UUID = Symbol("Uuid.parse");

/** A uuid checked once, where it enters the service: a key formatted from it does no check. */
export class Uuid {
  #text;

  constructor(token, text) {
    if (token !== MAKE_UUID) throw new TypeError("a Uuid is made by Uuid.parse(text)");
    this.#text = text;
  }

  /** The hyphenated form, in either case (kept lowercase, as keys write it). */
  static parse(text) {
    const lower = typeof text === "string" ? text.toLowerCase() : text;
    if (typeof lower !== "string" || !isCanonicalUuid(lower)) throw new TypeError(`${describe(text)} is not a uuid (hyphenated)`);
    return new Uuid(MAKE_UUID, lower);
  }

  toString() {
    return this.#text;
  }

  toJSON() {
    return this.#text;
  }

  static {
    uuidText = (value) => (typeof value === "object" && value !== null && #text in value ? value.#text : undefined);
  }
}

function encodeUuid(key, p, value) {
  const checked = uuidText(value);
  if (checked !== undefined) return UUID_NEEDS_ESCAPE ? escapeValue(checked) : checked;
  if (typeof value !== "string" || !isCanonicalUuid(value)) fail(key, p, `${describe(value)} is not a uuid (lowercase, hyphenated)`);
  return UUID_NEEDS_ESCAPE ? escapeValue(value) : value;
}

function encodeEnum(key, p, value) {
  const param = PARAMS[p];
  const index = typeof value === "string" ? param.names.indexOf(value) : -1;
  if (index < 0) fail(key, p, `${describe(value)} is not one of ${param.names.join(", ")}`);
  const form = param.forms[index];
  if (param.except.length !== 0 && param.except.includes(form)) fail(key, p, `${JSON.stringify(form)} is excluded for this parameter`);
  return escapeValue(form);
}

function encodeIp(key, p, value) {
  if (typeof value !== "string" || !isCanonicalIp(value)) fail(key, p, `${describe(value)} is not an ip (canonical IPv4 or IPv6)`);
  return escapeValue(value);
}

/** A formatted key, checked against the longest key keyschema reads back. */
function finish(key, text) {
  // A UTF-16 unit is at most 3 UTF-8 bytes: only long keys are measured.
  if (text.length > MAX_KEY_LEN / 3) {
    const length = utf8Length(text);
    if (length > MAX_KEY_LEN) {
      throw new FormatError(key.name, null, `the key would be ${length} bytes, longer than the ${MAX_KEY_LEN} keyschema allows`);
    }
  }
  return text;
}

function describe(value) {
  if (typeof value === "string") return JSON.stringify(value);
  try {
    return `${typeof value} ${String(value)}`;
  } catch {
    return typeof value; // an object whose toString throws (a look-alike Uuid)
  }
}

/** The text form of parameter `p` in `values`, for FormatValues. */
function simpleOf(key, values, p) {
  const value = values[PARAMS[p].name];
  if (value === undefined) throw new FormatError(key.name, PARAMS[p].name, "no value given");
  if (typeof value !== "string") throw new FormatError(key.name, PARAMS[p].name, "the parameter has no layouts");
  return value;
}

function layoutOf(key, values, p) {
  const value = values[PARAMS[p].name];
  if (value === undefined) throw new FormatError(key.name, PARAMS[p].name, "no value given");
  if (typeof value === "string") return value;
  const layout = PARAMS[p].layouts[value.layout - 1];
  if (layout === undefined) throw new FormatError(key.name, PARAMS[p].name, `no layout ${value.layout}`);
  for (const name of Object.keys(value.parts)) {
    if (!layout.some((piece) => typeof piece === "number" && PARAMS[piece].name === name)) {
      throw new FormatError(key.name, PARAMS[p].name, `its layout has no part ${name}`);
    }
  }
  return value;
}

function partOf(key, parts, p) {
  const value = parts[PARAMS[p].name];
  if (value === undefined) throw new FormatError(key.name, PARAMS[p].name, "no value given");
  return value;
}

/** A text form read as a value of parameter `p` for a typed formatter (ints become bigints). */
function typed(key, p, text) {
  const kind = PARAMS[p].kind;
  if (kind !== KIND_INT && kind !== KIND_UNIX_SECONDS) return text;
  if (!isCanonicalInt(text)) throw new FormatError(key.name, PARAMS[p].name, `${JSON.stringify(text)} is not an int (canonical decimal)`);
  return BigInt(text);
}

const KIND_TEXT = 0;
const KIND_IDENT = 1;
const KIND_INT = 2;
const KIND_UUID = 3;
const KIND_ENUM = 4;
const KIND_UNIX_SECONDS = 5;
const KIND_IP = 6;

/** The text form of the key form of a value of parameter `p`, or `null` when it is not one. */
function decode(p, encoded) {
  if (encoded === "") return null;
  const param = PARAMS[p];
  const text = unescapeValue(encoded, param.spans);
  if (text === null || param.except.includes(text)) return null;
  switch (param.kind) {
    case KIND_IDENT:
      return IDENT.test(text) ? text : null;
    case KIND_INT:
      return isCanonicalInt(text) ? text : null;
    case KIND_UNIX_SECONDS:
      return isCanonicalInt(text) && !text.startsWith("-") ? text : null;
    case KIND_UUID:
      return isCanonicalUuid(text) ? text : null;
    case KIND_ENUM: {
      const index = param.forms.indexOf(text);
      return index < 0 ? null : param.names[index];
    }
    case KIND_IP:
      return isCanonicalIp(text) ? text : null;
    default:
      return text;
  }
}

/** Reads a key back: the most specific pattern that matches it (as keyschema's matcher decides),
 * its values in their text forms, and its slot. Throws ParseError when none matches. */
export function parse(key) {
  if (typeof key !== "string" || key === "") throw new ParseError(String(key), "empty key");
  const found = [];
  const v = walk(0, key, 0, found);
  if (v < 0) throw new ParseError(key, "no pattern matches");
  const [keyIndex, choices] = VARIANTS[v];
  const def = KEYS[keyIndex];
  const values = {};
  let next = 0;
  def.params.forEach((p, i) => {
    if (choices[i] < 0) {
      values[PARAMS[p].name] = found[next++];
      return;
    }
    const parts = {};
    for (const piece of PARAMS[p].layouts[choices[i]]) {
      if (typeof piece === "number") parts[PARAMS[piece].name] = found[next++];
    }
    values[PARAMS[p].name] = { layout: choices[i] + 1, parts };
  });
  return { key: def, values, slot: slot(key) };
}

/** Depth-first from node `n` with the segment starting at `at`: the first variant reached with
 * the whole key consumed, or -1; the decoded values are left in `found`. */
function walk(n, key, at, found) {
  const [literals, tests, spanning, terminal] = NODES[n];
  if (at > key.length) return terminal;
  let end = key.indexOf(SEPARATOR_TEXT, at);
  if (end < 0) end = key.length;
  const segment = key.slice(at, end);
  const mark = found.length;
  for (const [literal, child] of literals) {
    if (literal === segment) {
      const v = walk(child, key, end + 1, found);
      if (v >= 0) return v;
    }
  }
  for (const [test, child] of tests) {
    found.length = mark;
    if (typeof test === "number") {
      const text = decode(test, segment);
      if (text === null) continue;
      found.push(text);
    } else if (!splitPieces(test, segment, found)) {
      continue;
    }
    const v = walk(child, key, end + 1, found);
    if (v >= 0) return v;
  }
  for (const [p, child] of spanning) {
    // Longest first: legacy values swallow as many segments as the rest allows.
    let last = key.length;
    for (;;) {
      found.length = mark;
      const text = decode(p, key.slice(at, last));
      if (text !== null) {
        found.push(text);
        const v = walk(child, key, last + 1, found);
        if (v >= 0) return v;
      }
      const i = key.slice(end, last).lastIndexOf(SEPARATOR_TEXT);
      if (i < 0 || last <= end) break;
      last = end + i;
    }
  }
  found.length = mark;
  return -1;
}

/** Cuts a mixed segment at its literals, each value running to the next literal. */
function splitPieces(pieces, segment, found) {
  let rest = segment;
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i];
    if (typeof piece === "string") {
      if (!rest.startsWith(piece)) return false;
      rest = rest.slice(piece.length);
      continue;
    }
    let end = rest.length;
    if (typeof pieces[i + 1] === "string") {
      end = rest.indexOf(pieces[i + 1]);
      if (end < 0) return false;
    }
    const text = decode(piece, rest.slice(0, end));
    if (text === null) return false;
    found.push(text);
    rest = rest.slice(end);
  }
  return rest === "";
}

const CRC_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[byte] = crc;
  }
  return table;
})();

/** The Redis Cluster hash slot of `key`: CRC16 of its hash tag's UTF-8 bytes, or of the whole key. */
export function slot(key) {
  const open = key.indexOf("{");
  if (open >= 0) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of encoder.encode(key)) crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[(crc >> 8) ^ byte];
  return crc % 16384;
}

const U64_MAX = 2n ** 64n - 1n;
const WHITE_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

function defaultLookup(name) {
  return globalThis.process?.env?.[name];
}

/** How long a key lives: never, a fixed duration, an environment variable read with a default
 * and a unit, a multiple of another TTL, or chosen per write up to a bound. */
class Ttl {
  constructor([kind, millis, variable, unit, unitName, factor, base]) {
    this.kind = kind;
    this.millis = millis;
    this.variable = variable;
    this.unit = unit;
    this.unitName = unitName;
    this.factor = factor;
    this.base = base === null ? null : new Ttl(base);
    Object.freeze(this);
  }

  /** Whether keys under this TTL expire at all. */
  get expires() {
    return this.kind !== "none";
  }

  /** Whether each write chooses the TTL, up to the resolved bound. */
  get perWrite() {
    return this.kind === "per_write";
  }

  /** The environment variable the TTL reads, or `null`. */
  get env() {
    return this.base === null ? this.variable : this.base.env;
  }

  /** The TTL in milliseconds as the Rust store resolves it, `null` for a key that never
   * expires; `lookup` gives environment variables (the process's by default). Throws TtlError
   * when a variable's value is not a whole number of its unit, overflows, or is zero. */
  resolve(lookup = defaultLookup) {
    switch (this.kind) {
      case "none":
        return null;
      case "fixed":
        return this.millis;
      case "per_write":
        return this.base.resolve(lookup);
      case "multiple": {
        const base = this.base.resolve(lookup);
        if (base === null) return null;
        if (base * this.factor > U64_MAX) throw new TtlError(this.env, String(base), "overflows a duration");
        return base * this.factor;
      }
    }
    const value = lookup(this.variable);
    if (value === undefined) return this.millis;
    const trimmed = value.replace(WHITE_SPACE, "");
    const digits = trimmed.startsWith("+") ? trimmed.slice(1) : trimmed;
    if (!/^[0-9]+$/.test(digits) || BigInt(digits) > U64_MAX) {
      throw new TtlError(this.variable, value, `is not a whole number of ${this.unitName}`);
    }
    const millis = BigInt(digits) * this.unit;
    if (millis > U64_MAX) throw new TtlError(this.variable, value, "overflows a duration");
    if (millis === 0n) throw new TtlError(this.variable, value, "gives a TTL of zero, which deletes every key it is applied to");
    return millis;
  }
}

/** A key definition of the schema: its pattern, Redis type, codec, TTL and slot group. */
class Key {
  constructor(index, [name, pattern, redisType, codec, fields, ttl, slotGroup, purpose, params], format, fromValues) {
    this.name = name;
    this.pattern = pattern;
    this.redisType = redisType;
    this.codec = codec;
    this.fields = Object.freeze(fields);
    this.ttl = new Ttl(ttl);
    this.slotGroup = slotGroup;
    this.purpose = purpose;
    this.params = params;
    this.index = index;
    this.format = format;
    this.fromValues = fromValues;
    Object.freeze(this);
  }

  /** Formats the key from values in their text forms, by parameter name: what a tool that reads
   * values from people or files uses. Typed code calls the key's `format`. */
  formatValues(values) {
    for (const name of Object.keys(values)) {
      if (!this.params.some((p) => PARAMS[p].name === name)) throw new FormatError(this.name, name, "the key has no such parameter");
    }
    return this.fromValues(values);
  }
}
