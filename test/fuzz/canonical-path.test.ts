// Time-bounded fuzzing (fast-check, ~2 s per generator) of the request-target canonicaliser and the
// Host normaliser: parseTarget may only succeed or throw GatewayError bad_path, normalizeHost only
// succeed or throw bad_request, and what they accept keeps their invariants. Former crashes stay below.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../gateway/errors.js';
import { type ParsedTarget, parseTarget } from '../../gateway/routing/canonical-path.js';
import { normalizeHost } from '../../gateway/routing/host.js';

const BUDGET_MS = 2_000;

function parsed(target: string): ParsedTarget | null {
  try {
    return parseTarget(target);
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'bad_path') return null;
    throw err;
  }
}

/** What parseTarget promises about anything it accepts. */
function checkAccepted(target: string, p: ParsedTarget): void {
  expect(p.rawPath + p.query).toBe(target);
  expect(p.rawPath.startsWith('/')).toBe(true);
  const raw = p.rawPath.split('/').slice(1);
  expect(p.segments).toHaveLength(raw.length);
  p.segments.forEach((segment, i) => {
    if (i < p.segments.length - 1) expect(segment).not.toBe('');
    expect(segment === '.' || segment === '..').toBe(false);
    for (const ch of segment) {
      const c = ch.codePointAt(0)!;
      expect(c < 0x20 || c === 0x7f || (c >= 0x80 && c <= 0x9f) || '/\\;%'.includes(ch), `segment ${i}`).toBe(
        false,
      );
    }
    // Only escapes are decoded: an unescaped raw segment is its own decoded form.
    if (!raw[i]!.includes('%')) expect(segment).toBe(raw[i]);
    const nfkc = segment.normalize('NFKC');
    expect(nfkc === '.' || nfkc === '..' || /[/\\;%]/.test(nfkc)).toBe(false);
  });
  expect(/[#\s]/.test(target)).toBe(false);
  // Deterministic: the same bytes give the same decision.
  expect(parseTarget(target)).toEqual(p);
}

const HEX = '0123456789abcdefABCDEF';
const escapes = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map((b) => `%${b.toString(16).padStart(2, '0')}`),
  fc.integer({ min: 0, max: 255 }).map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`),
  fc.tuple(fc.constantFrom(...HEX), fc.constantFrom(...`${HEX}gzG%`)).map(([a, b]) => `%${a}${b}`),
  fc.constantFrom('%', '%2', '%%', '%u002e', '%25', '%252e'),
);
/** UTF-8 byte sequences, valid and not, percent-encoded. */
const utf8Escapes = fc.oneof(
  fc
    .string({ unit: 'binary', minLength: 1, maxLength: 3 })
    .map((s) => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')),
  fc
    .uint8Array({ minLength: 1, maxLength: 4 })
    .map((bytes) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')),
);
const piece = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9._~-]{1,6}$/) },
  { weight: 2, arbitrary: escapes },
  { weight: 2, arbitrary: utf8Escapes },
  {
    weight: 2,
    arbitrary: fc.constantFrom('/', '/', '/', '.', '..', '//', ';', '?', '#', '\\', '&', '=', '+', '@', ':'),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 2 }) },
);
const structured = fc.array(piece, { maxLength: 20 }).map((ps) => `/${ps.join('')}`);

const GENERATORS: Array<[string, fc.Arbitrary<string>]> = [
  ['arbitrary binary strings', fc.string({ unit: 'binary', maxLength: 64 })],
  ['structured paths from escapes, UTF-8 bytes and separators', structured],
  [
    'ASCII printable strings starting with /',
    fc
      .string({
        unit: fc.constantFrom(...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))),
        maxLength: 40,
      })
      .map((s) => `/${s}`),
  ],
];

/** Inputs that exercised edge cases while the fuzzers were written; each must stay a clean answer. */
const REGRESSIONS: Array<[string, string, boolean]> = [
  ['an empty target', '', false],
  ['a lone percent at the end', '/a%', false],
  ['a truncated escape before ?', '/a%2?x', false],
  ['an overlong dot', '/%c0%ae', false],
  ['a four-byte sequence beyond U+10FFFF', '/%f4%90%80%80', false],
  ['a surrogate', '/%ed%b0%80', false],
  ['a C1 control', '/%c2%9f', false],
  ['NFKC two-dot leader', '/%e2%80%a5', false],
  ['NFKC full-width percent', '/%ef%bc%85', false],
  ['an escaped tilde', '/%7e', true],
  ['a non-characters U+FFFF', '/%ef%bf%bf', true],
  ['an empty last segment', '/a/', true],
  ['a query holding every printable', "/a?!$&'()*+,;=:@/?", true],
  ['a three-dot segment', '/...', true],
  ['a dot then an escaped dot', '/.%2e', false],
];

describe('path canonicaliser fuzz: only a clean parse or bad_path', () => {
  it.each(REGRESSIONS)('regression: %s', (_n, target, accepted) => {
    const p = parsed(target);
    expect(p !== null).toBe(accepted);
    if (p !== null) checkAccepted(target, p);
  });

  it.each(GENERATORS)(`%s (${BUDGET_MS} ms)`, (_n, arb) => {
    fc.assert(
      fc.property(arb, (target) => {
        const p = parsed(target);
        if (p !== null) checkAccepted(target, p);
      }),
      { numRuns: 10_000_000, plugins: [fc.interruptAfterTimeLimit(BUDGET_MS)] },
    );
  });
});

describe('host normaliser fuzz: only a normal host or bad_request', () => {
  const hostArb = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc
      .array(
        fc.oneof(
          fc.stringMatching(/^[A-Za-z0-9-]{0,8}$/),
          fc.constantFrom('.', ':', '[', ']', '@', '%', '::1', '80', '99999', ''),
        ),
        {
          maxLength: 8,
        },
      )
      .map((ps) => ps.join('')),
  );
  it(`random Host values (${BUDGET_MS} ms)`, () => {
    fc.assert(
      fc.property(hostArb, (host) => {
        let normal: string;
        try {
          normal = normalizeHost(host);
        } catch (err) {
          expect(err).toBeInstanceOf(GatewayError);
          expect((err as GatewayError).code).toBe('bad_request');
          return;
        }
        // Lower case, no port, no userinfo; and normalising again changes nothing.
        expect(normal).toBe(normal.toLowerCase());
        expect(normal.includes('@')).toBe(false);
        expect(normalizeHost(normal)).toBe(normal);
      }),
      { numRuns: 10_000_000, plugins: [fc.interruptAfterTimeLimit(BUDGET_MS)] },
    );
  });
});
