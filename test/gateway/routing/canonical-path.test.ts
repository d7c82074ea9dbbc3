// Tests the target canonicaliser on its own: how valid targets split and decode, and that nothing else gets through.
// Route selection on top of it is tested in router.test.ts.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../gateway/errors.js';
import { parseTarget } from '../../../gateway/routing/canonical-path.js';

function badPathCode(target: string): string {
  try {
    parseTarget(target);
  } catch (err) {
    if (err instanceof GatewayError) return `${err.code}:${err.status}`;
    throw err;
  }
  return 'accepted';
}

describe('parseTarget: valid targets', () => {
  it.each([
    { target: '/', rawPath: '/', query: '', segments: [''] },
    { target: '/?', rawPath: '/', query: '?', segments: [''] },
    { target: '/a/b/', rawPath: '/a/b/', query: '', segments: ['a', 'b', ''] },
    { target: '/a/b?x=1&y=/../z', rawPath: '/a/b', query: '?x=1&y=/../z', segments: ['a', 'b'] },
    { target: '/api/%6frders', rawPath: '/api/%6frders', query: '', segments: ['api', 'orders'] },
    { target: '/%E2%82%AC', rawPath: '/%E2%82%AC', query: '', segments: ['€'] },
    { target: '/%f0%9f%98%80x', rawPath: '/%f0%9f%98%80x', query: '', segments: ['😀x'] },
    { target: '/a%20b', rawPath: '/a%20b', query: '', segments: ['a b'] },
    { target: '/...', rawPath: '/...', query: '', segments: ['...'] },
    { target: '/.well-known/x', rawPath: '/.well-known/x', query: '', segments: ['.well-known', 'x'] },
    { target: '/%2ejson', rawPath: '/%2ejson', query: '', segments: ['.json'] },
    { target: '/a%3Fb?c', rawPath: '/a%3Fb', query: '?c', segments: ['a?b'] },
    { target: '/x?q=%zz;a/%2F', rawPath: '/x', query: '?q=%zz;a/%2F', segments: ['x'] },
  ])('$target', ({ target, rawPath, query, segments }) => {
    const parsed = parseTarget(target);
    expect(parsed.rawPath).toBe(rawPath);
    expect(parsed.query).toBe(query);
    expect(parsed.segments).toEqual(segments);
  });

  it('returns the target itself as rawPath when there is no query (no copy on the hot path)', () => {
    const target = '/api/orders/7';
    expect(parseTarget(target).rawPath).toBe(target);
  });
});

describe('parseTarget: refusals are bad_path', () => {
  it.each([
    '',
    '*',
    'api/x',
    'http://x/a',
    '\\\\evil.com\\x',
    '/a/../b',
    '/a/./b',
    '/a/.',
    '/a/..',
    '/a/..?x',
    '/%2e%2e',
    '/%2E%2e/x',
    '/.%2e/x',
    '/%2e./x',
    '/%2E',
    '/%C0%AE%C0%AE/x',
    '/%E0%80%AE',
    '//',
    '//a',
    '/a//b',
    '/a//',
    '/a%2Fb',
    '/a%2fb',
    '/a%5Cb',
    '/a%5cb',
    '/a\\b',
    '/a%25',
    '/%252e%252e/',
    '/a;b',
    '/a/..;/b',
    '/a/.;/b',
    '/a%3Bb',
    '/a#b',
    '/a?b#c',
    '/a%00',
    '/a%0a',
    '/a%0D%0A',
    '/a%7F',
    '/a%c2%85',
    '/a\u0000',
    '/a\nb',
    '/a b',
    '/a\tb',
    '/a\u007f',
    '/é',
    '/a?b c',
    '/a?b\u0000',
    '/a?é',
    '/%G1',
    '/%4',
    '/%',
    '/a%/b',
    '/%e2%82',
    '/%e2%82/x',
    '/%e2%82a',
    '/%ED%A0%80',
    '/%ED%BF%BF',
    '/%F4%90%80%80',
    '/%F5%80%80%80',
    '/%80',
    '/%FF',
    '/%EF%BC%8F',
    '/%EF%BC%BC',
    '/%E2%80%A5',
    '/%EF%BC%8E%EF%BC%8E',
  ])('%j', (target) => {
    expect(badPathCode(target)).toBe('bad_path:400');
  });
});

// Characters a generator can combine into every escape, dot and separator form the rules care about.
const NASTY = [
  '/',
  '%',
  '.',
  '2',
  'e',
  'E',
  'f',
  'F',
  'c',
  '0',
  '5',
  '8',
  'a',
  ';',
  '\\',
  '?',
  '#',
  ' ',
  'é',
  '\u0000',
  '%2e',
  '%2F',
  '%C0',
  '%E2%82',
  '%AC',
  '%ED%A0%80',
];

function hasStructuralChar(segment: string): boolean {
  for (const ch of segment) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c === 0x7f || ch === '/' || ch === '\\' || ch === ';' || ch === '%') return true;
  }
  return false;
}

describe('parseTarget: properties', () => {
  it('throws nothing but a bad_path GatewayError, and what it accepts is unambiguous', () => {
    const target = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.array(fc.constantFrom(...NASTY), { maxLength: 16 }).map((parts) => `/${parts.join('')}`),
    );
    fc.assert(
      fc.property(target, (t) => {
        let parsed: ReturnType<typeof parseTarget>;
        try {
          parsed = parseTarget(t);
        } catch (err) {
          expect(err).toBeInstanceOf(GatewayError);
          expect((err as GatewayError).code).toBe('bad_path');
          return;
        }
        expect(parsed.rawPath + parsed.query).toBe(t);
        expect(parsed.segments.length).toBe(parsed.rawPath.split('/').length - 1);
        parsed.segments.forEach((segment, i) => {
          expect(segment === '.' || segment === '..').toBe(false);
          expect(hasStructuralChar(segment)).toBe(false);
          if (i < parsed.segments.length - 1) expect(segment).not.toBe('');
        });
        expect(parsed.rawPath.includes('#') || parsed.query.includes('#')).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });
});
