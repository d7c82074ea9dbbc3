// Scans of a JSON body's structure, without building it: how deep and how many values (before
// JSON.parse, which spends seconds on a megabyte nested 500,000 deep), and a key that one object repeats
// (after it: JSON.parse keeps the last; "Parse errors deny" refuses the body instead). No grammar here.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** An open array on the stack: its strings are never keys. */
const ARRAY = 0;
/** An open object that has no key yet. */
const NO_KEY = 1;
/**
 * One stack entry per open container. An object's keys are kept without a Set until it has two: deep
 * nesting (`{"a":{"a":…}}`, 200,000 levels in a 1 MB body) then costs no allocation per level.
 */
type Open = typeof ARRAY | typeof NO_KEY | string | Set<string>;

/**
 * The first key, unescaped, that an object of `text` holds twice, or null. `text` MUST be JSON that
 * JSON.parse accepted: in valid JSON a `"` that no odd run of backslashes precedes opens or closes a
 * string, braces and brackets outside strings are structure, and a string is a key exactly when the
 * next character that is not whitespace is a colon. One pass; keys are compared as JSON.parse reads
 * them, so `"email"` and `"\u0065mail"` are the same key.
 */
export function firstDuplicateKey(text: string): string | null {
  const open: Open[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      const depth = open.length - 1;
      const seen = depth < 0 ? ARRAY : open[depth]!;
      if (seen !== ARRAY && nextIsColon(text, end + 1)) {
        const raw = text.slice(i + 1, end);
        const key = raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : raw;
        if (seen === NO_KEY) open[depth] = key;
        else if (typeof seen === 'string') {
          if (seen === key) return key;
          open[depth] = new Set([seen, key]);
        } else {
          if (seen.has(key)) return key;
          seen.add(key);
        }
      }
      i = end + 1;
      continue;
    }
    if (c === OPEN_OBJECT) open.push(NO_KEY);
    else if (c === OPEN_ARRAY) open.push(ARRAY);
    else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) open.pop();
    i++;
  }
  return null;
}

/** Deepest nesting a body of the gateway's own endpoints or admin API may have (theirs is 1 or 2). */
export const MAX_DEPTH = 32;
/** Most values (members and array items) such a body may hold (theirs hold a few dozen at most). */
export const MAX_VALUES = 1_000;

/**
 * Why `text` is refused before it is parsed (nested deeper than MAX_DEPTH, or more than MAX_VALUES
 * values), or null. Any text: strings are skipped as JSON reads them, and a malformed text that passes
 * is left to JSON.parse to refuse. Values are counted by their separators (`,` and `:`).
 */
export function shapeProblem(text: string): string | null {
  let depth = 0;
  let separators = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = stringEnd(text, i);
    else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > MAX_DEPTH) return `Request body nests deeper than ${MAX_DEPTH} levels`;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) depth--;
    else if ((c === COMMA || c === COLON) && ++separators > MAX_VALUES)
      return `Request body holds more than ${MAX_VALUES} values`;
  }
  return null;
}

/** The index of the quote that closes the string opening at `start`. */
function stringEnd(text: string, start: number): number {
  let at = start + 1;
  for (;;) {
    const quote = text.indexOf('"', at);
    // Valid JSON closes every string; the guard keeps a misuse from looping.
    if (quote === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote;
    at = quote + 1;
  }
}

/** Whether the first character at or after `from` that is not JSON whitespace is a colon. */
function nextIsColon(text: string, from: number): boolean {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // RFC 8259 §2: space, tab, line feed, carriage return.
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    return c === COLON;
  }
  return false;
}
