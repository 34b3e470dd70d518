// `lintBatch`'s result, held by JavaScript: the typed arrays and the keys' bytes are ordinary
// JavaScript objects that the garbage collector reclaims like any other, even in a synchronous
// loop that never calls `free()`. WebAssembly memory holds only a shared reference to the schema,
// so that a row's full result can be built on demand.

const decoder = new TextDecoder();

export class LintBatch {
  #linter;
  #input;

  constructor(linter, input, columns) {
    this.#linter = linter;
    this.#input = input;
    this.length = columns.patterns.length;
    this.patterns = columns.patterns;
    this.slots = columns.slots;
    this.problems = columns.problems;
    this.starts = columns.starts;
    this.ends = columns.ends;
    this.keysPerPattern = columns.keysPerPattern;
    this.keysPerProblem = columns.keysPerProblem;
    Object.freeze(this);
  }

  #bytes(row) {
    if (!Number.isInteger(row)) throw new TypeError(`row ${String(row)} is not a row number (an integer from 0)`);
    if (row < 0 || row >= this.length) throw new RangeError(`row ${row} is out of range: the batch has ${this.length} keys`);
    if (this.#linter === null) throw new Error("this batch was freed");
    return this.#input.subarray(this.starts[row], this.ends[row]);
  }

  /** The key of `row` (bytes that are not UTF-8 shown as U+FFFD). */
  key(row) {
    return decoder.decode(this.#bytes(row));
  }

  /** The full result of `row`: what `keyschema lint --format json` prints for that line. */
  result(row) {
    const bytes = this.#bytes(row); // checks the row, and that the batch was not freed
    return this.#linter.lint(bytes);
  }

  /** Releases the batch's reference to its schema now, rather than when it is collected. */
  free() {
    this.#linter?.free();
    this.#linter = null;
  }
}

if (typeof Symbol.dispose === "symbol") LintBatch.prototype[Symbol.dispose] = LintBatch.prototype.free;

export function makeBatch(linter, input, patterns, slots, problems, starts, ends, keysPerPattern, keysPerProblem) {
  return new LintBatch(linter, input, { patterns, slots, problems, starts, ends, keysPerPattern, keysPerProblem });
}
