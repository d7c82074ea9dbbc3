// Time-bounded fuzzing (fast-check, ~3 s per run) of the config loader: mutations of
// gateway.yaml.example and random YAML-ish documents may only load or throw ConfigError, never another
// exception. Inputs that once crashed it are kept as regression cases in the table at the top.
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} is the config syntax under test, not a template
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfigText } from '../../config/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const EXAMPLE = readFileSync(join(ROOT, 'gateway.yaml.example'), 'utf8');
const LINES = EXAMPLE.split('\n');
const KEYS = [
  ...new Set(LINES.map((l) => /^\s*([a-z_]+):/.exec(l)?.[1]).filter((k): k is string => k !== undefined)),
];
const ENV = {
  SECRET_KEY: 's'.repeat(40),
  ADMIN_TOKEN: 'fuzz-admin-token-0123456789abcdefghij',
  PORT: '8080',
  EMPTY: '',
};
const BUDGET_MS = 3_000;

/** What the loader may do: return a config, or throw ConfigError. Anything else is a crash. */
function outcome(text: string): 'ok' | 'config-error' {
  try {
    loadConfigText(text, { file: null, dir: '/srv/portcullis', env: ENV });
    return 'ok';
  } catch (err) {
    if (err instanceof ConfigError) return 'config-error';
    throw err;
  }
}

const VALUES = [
  '',
  '~',
  'null',
  '[]',
  '{}',
  '[1, 2',
  '{a: 1',
  '-1',
  '0',
  '1e309',
  '-0',
  '.nan',
  '.inf',
  '0x10',
  '0o17',
  '1_000',
  '"${SECRET_KEY}"',
  '${UNSET}',
  '${UNSET:-}',
  '${EMPTY:-@generate}',
  '${PORT:-${PORT}}',
  '$${X}',
  '${',
  '&anchor value',
  '*anchor',
  '*nowhere',
  '<<: {a: 1}',
  '!!binary aGVsbG8=',
  '!!js/function "x"',
  '!!timestamp 2001-12-14',
  '!custom x',
  '? complex key',
  '|',
  '>-',
  '- item',
  '---',
  '...',
  '\t',
  '@',
  '`',
  '%YAML 1.1',
  '"\\u0000"',
  '"\\uD800"',
  'x'.repeat(10_000),
  '🙂',
  '1mb',
  '99999999999999999999kb',
  '1.5s',
  '0s',
  '-5m',
  '10/0s',
  '1/h',
  '0/h',
  'http://[::1',
  'redis://:@/',
  'sqlite:',
  'postgres://',
  'true',
  'yes',
  'on',
  '[*a, *a]',
  'constructor',
  '__proto__',
];

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);

type Mutation = (lines: string[]) => string[];
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.nat().map(
    (i): Mutation =>
      (ls) =>
        ls.filter((_, j) => j !== i % ls.length),
  ),
  fc.nat().map(
    (i): Mutation =>
      (ls) =>
        ls.flatMap((l, j) => (j === i % ls.length ? [l, l] : [l])),
  ),
  fc.tuple(fc.nat(), fc.nat()).map(
    ([i, j]): Mutation =>
      (ls) => {
        const out = [...ls];
        const a = i % out.length;
        const b = j % out.length;
        [out[a], out[b]] = [out[b]!, out[a]!];
        return out;
      },
  ),
  fc.tuple(fc.nat(), pick(VALUES)).map(
    ([i, v]): Mutation =>
      (ls) =>
        ls.map((l, j) => (j === i % ls.length ? l.replace(/:(.*)$/, `: ${v}`) : l)),
  ),
  fc.tuple(fc.nat(), pick(KEYS), pick(VALUES), fc.constantFrom('', '  ', '    ', '      ', '\t', '- ')).map(
    ([i, k, v, indent]): Mutation =>
      (ls) => {
        const out = [...ls];
        out.splice(i % (out.length + 1), 0, `${indent}${k}: ${v}`);
        return out;
      },
  ),
  fc.tuple(fc.nat(), fc.constantFrom('  ', '', '\t', ' ')).map(
    ([i, indent]): Mutation =>
      (ls) =>
        ls.map((l, j) => (j === i % ls.length ? `${indent}${l.trimStart()}` : l)),
  ),
  fc.tuple(fc.nat(), fc.nat(), fc.string({ unit: 'binary', maxLength: 4 })).map(
    ([i, at, s]): Mutation =>
      (ls) =>
        ls.map((l, j) =>
          j === i % ls.length ? `${l.slice(0, at % (l.length + 1))}${s}${l.slice(at % (l.length + 1))}` : l,
        ),
  ),
  fc.nat().map(
    (at): Mutation =>
      (ls) =>
        ls
          .join('\n')
          .slice(0, at % (ls.join('\n').length + 1))
          .split('\n'),
  ),
);

const mutatedExample = fc
  .array(mutation, { minLength: 1, maxLength: 4 })
  .map((ms) => ms.reduce((ls, m) => m(ls), LINES).join('\n'));

const routeLike = fc.record(
  {
    name: fc.oneof(fc.string({ maxLength: 8 }), fc.integer()),
    path: fc.oneof(
      pick(['/', '/a', '/a/', '//a', '/a/../b', '/%2e', '/a;b', 'a', '/€']),
      fc.string({ maxLength: 10 }),
    ),
    upstream: fc.oneof(
      pick(['http://127.0.0.1:3000', 'ftp://x', 'http://', '', 'http://a/b']),
      fc.array(fc.string({ maxLength: 10 })),
    ),
    methods: fc.oneof(fc.array(pick(['GET', 'get', 'POST', '', 'BREW'])), fc.string({ maxLength: 5 })),
    auth: pick(['required', 'optional', 'public', 'none', '']),
    host: fc.oneof(
      pick(['example.com', 'EXAMPLE.com.', '', 'a..b', '[::1]', 'a@b']),
      fc.string({ maxLength: 6 }),
    ),
    timeout: pick(VALUES),
    body_limit: pick(VALUES),
    rate_limit: pick(VALUES),
  },
  { requiredKeys: [] },
);

const randomDocument = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc
    .dictionary(pick(KEYS), fc.oneof(pick(VALUES), fc.jsonValue({ maxDepth: 2 })))
    .map((d) => JSON.stringify(d)),
  fc.array(routeLike, { maxLength: 4 }).map((routes) => `${EXAMPLE}\nroutes: ${JSON.stringify(routes)}\n`),
  fc
    .array(fc.tuple(pick(KEYS), pick(VALUES), fc.nat({ max: 3 })), { maxLength: 12 })
    .map((entries) => entries.map(([k, v, depth]) => `${'  '.repeat(depth)}${k}: ${v}`).join('\n')),
  fc.string({ unit: fc.constantFrom(...':-[]{}&*!|>\'"%@`#,? \n\t$abc01'.split('')), maxLength: 80 }),
);

/** Inputs that crashed the loader once (or came close); each must load or be a ConfigError. */
const REGRESSIONS: Array<[string, string]> = [
  ['an alias to a missing anchor', 'server: *nowhere\n'],
  [
    'a billion-laughs alias bomb',
    `a: &a [x, x, x, x, x, x, x, x, x, x]\n${Array.from(
      { length: 8 },
      (_, i) =>
        `b${i}: &b${i} [${Array(10)
          .fill(i === 0 ? '*a' : `*b${i - 1}`)
          .join(', ')}]`,
    ).join('\n')}\nserver: *b7\n`,
  ],
  ['a __proto__ key at the top', '__proto__: { polluted: true }\n'],
  ['a constructor key inside a section', 'server:\n  constructor: 1\n'],
  ['a merge key', 'base: &b { port: 1 }\nserver:\n  <<: *b\n'],
  ['a non-string key', '? [a, b]\n: 1\n'],
  ['a document that is a list', '- a\n- b\n'],
  ['a document that is a scalar', '42\n'],
  ['a lone surrogate', 'server: { host: "\\uD800" }\n'],
  ['an expansion inside an expansion default', 'tokens: { secret: "${UNSET:-${ALSO_UNSET}}" }\n'],
  ['an unterminated expansion', 'tokens: { secret: "${SECRET_KEY" }\n'],
  ['a size beyond Number.MAX_SAFE_INTEGER', 'server: { body_limit: 99999999999999999999kb }\n'],
  ['a rate with a zero window', 'rate_limits: { global: { anonymous: 10/0s } }\n'],
  ['nesting 70 deep', `${Array.from({ length: 70 }, (_, i) => `${'  '.repeat(i)}k${i}:`).join('\n')} 1\n`],
  ['routes as a mapping', 'routes: { a: 1 }\n'],
  [
    'a route with a numeric name and an array upstream of numbers',
    'routes: [{ name: 1, path: /a, upstream: [1, 2] }]\n',
  ],
  ['the example with its routes list replaced by null', `${EXAMPLE}\nroutes: null\n`],
  ['tabs as indentation', 'server:\n\tport: 1\n'],
  ['a duplicate key', 'server: {}\nserver: {}\n'],
  ['a custom tag', 'server: !custom { port: 1 }\n'],
  ['a binary tag', 'tokens: { secret: !!binary aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29ybGQ= }\n'],
];

describe('config loader fuzz: only a config or a ConfigError', () => {
  it.each(REGRESSIONS)('regression: %s', (_n, text) => {
    expect(['ok', 'config-error']).toContain(outcome(text));
  });

  it('the unmodified example loads (the fuzz starts from a valid document)', () => {
    expect(outcome(EXAMPLE)).toBe('ok');
  });

  it(`mutations of gateway.yaml.example (${BUDGET_MS} ms)`, () => {
    fc.assert(
      fc.property(mutatedExample, (text) => {
        outcome(text);
      }),
      { numRuns: 1_000_000, plugins: [fc.interruptAfterTimeLimit(BUDGET_MS)] },
    );
  });

  it(`random YAML-ish documents (${BUDGET_MS} ms)`, () => {
    fc.assert(
      fc.property(randomDocument, (text) => {
        outcome(text);
      }),
      { numRuns: 1_000_000, plugins: [fc.interruptAfterTimeLimit(BUDGET_MS)] },
    );
  });
});
