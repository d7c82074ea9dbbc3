// The repeated-key check of JSON bodies: it names the first key an object repeats (compared after
// unescaping, at any depth), and it never flags a text whose objects all have distinct keys.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firstDuplicateKey, MAX_DEPTH, MAX_VALUES, shapeProblem } from '../../gateway/http/duplicate-keys.js';

describe('firstDuplicateKey', () => {
  it.each([
    ['top level', '{"a":1,"a":2}', 'a'],
    ['with whitespace around the colon', '{ "a" : 1 ,\n\t"a"\r\n: 2 }', 'a'],
    ['nested', '{"x":{"a":1,"b":2,"a":3}}', 'a'],
    ['in an array', '[1,{"k":[]},{"k":1,"k":2}]', 'k'],
    ['deep', '{"a":[[[{"b":{"c":1,"c":{}}}]]]}', 'c'],
    ['an escaped spelling', '{"email":1,"\\u0065mail":2}', 'email'],
    ['escaped quotes in the key', '{"a\\"b":1,"a\\u0022b":2}', 'a"b'],
    ['a backslash at the end of the key', '{"a\\\\":1,"a\\u005c":2}', 'a\\'],
    ['__proto__', '{"__proto__":{},"__proto__":{}}', '__proto__'],
    ['the empty key', '{"":1,"":2}', ''],
    ['after a value holding braces and quotes', '{"v":"{\\"a\\":1,","a":1,"a":2}', 'a'],
    ['the first repeat is named', '{"b":1,"a":1,"a":2,"b":2}', 'a'],
  ])('%s → %j', (_name, text, key) => {
    JSON.parse(text); // each case is valid JSON: only the repeat is wrong
    expect(firstDuplicateKey(text)).toBe(key);
  });

  it.each([
    ['one key in sibling objects', '{"a":{"k":1},"b":{"k":2}}'],
    ['one key at two depths', '{"k":{"k":{"k":1}}}'],
    ['a key equal to a string value', '{"k":"k","v":["k","k"]}'],
    ['keys that differ only in case', '{"a":1,"A":2}'],
    ['a key that is a prefix of another', '{"a":1,"ab":2}'],
    ['strings holding structure', '{"a":"{\\"a\\":1}","b":"[{\\"b\\":2,\\"b\\":3}]"}'],
    ['scalars and arrays', '[1,"x",true,null,[{"a":1}],{"a":2}]'],
    ['a bare string', '"{\\"a\\":1,\\"a\\":2}"'],
  ])('%s → null', (_name, text) => {
    JSON.parse(text);
    expect(firstDuplicateKey(text)).toBeNull();
  });

  it('never flags text that JSON.stringify wrote (keys are distinct there by construction)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), (value, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined);
        expect(firstDuplicateKey(text)).toBeNull();
      }),
      { numRuns: 2_000 },
    );
  });

  it('finds a key repeated in any object of any value', () => {
    const withObject = fc
      .tuple(fc.jsonValue(), fc.string(), fc.jsonValue(), fc.jsonValue())
      .map(([outer, key, a, b]) => ({ outer, key, a, b }));
    fc.assert(
      fc.property(withObject, ({ outer, key, a, b }) => {
        // A marker object, spliced in as text with the key written twice (the second time escaped).
        const marker = `{${JSON.stringify(key)}:${JSON.stringify(a)},${escapedKey(key)}:${JSON.stringify(b)}}`;
        const text = `${JSON.stringify([outer, 0]).slice(0, -2)}${marker}]`;
        JSON.parse(text);
        // `outer` was written by JSON.stringify and repeats nothing: the marker's key is the first repeat.
        expect(firstDuplicateKey(text)).toBe(key);
      }),
      { numRuns: 2_000 },
    );
  });
});

/** `key` as a JSON string with every character \u-escaped: a different spelling of the same key. */
function escapedKey(key: string): string {
  let out = '"';
  for (let i = 0; i < key.length; i++) out += `\\u${key.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return `${out}"`;
}

describe('shapeProblem (before JSON.parse)', () => {
  it.each([
    ['brackets and commas inside strings are text', `{"a":"${'[{,:'.repeat(2_000)}"}`, null],
    ['an escaped quote does not end a string', `{"a":"\\"[[[[","b":1}`, null],
    ['the deepest allowed', `${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)}`, null],
    [
      'one level more',
      `${'['.repeat(MAX_DEPTH + 1)}${']'.repeat(MAX_DEPTH + 1)}`,
      `Request body nests deeper than ${MAX_DEPTH} levels`,
    ],
    ['unclosed, deep', '{'.repeat(100), `Request body nests deeper than ${MAX_DEPTH} levels`],
    ['the most values allowed', `[${'1,'.repeat(MAX_VALUES)}1]`, null],
    ['one more', `[${'1,'.repeat(MAX_VALUES + 1)}1]`, `Request body holds more than ${MAX_VALUES} values`],
    [
      'members count as values',
      `{${Array.from({ length: 600 }, (_, i) => `"k${i}":1`).join(',')}}`,
      `Request body holds more than ${MAX_VALUES} values`,
    ],
  ])('%s', (_name, text, problem) => {
    expect(shapeProblem(text)).toBe(problem);
  });
});
