// Canonicalises a request target once: origin-form only, ambiguous paths refused as bad_path, escapes decoded for matching.
// It does not match routes, read the Host, or interpret the query (which is only screened for bytes never to forward).

import { GatewayError } from '../errors.js';

export interface ParsedTarget {
  /** The client's path bytes as sent, before '?'. */
  readonly rawPath: string;
  /** '' or '?...' exactly as sent (never used for matching). */
  readonly query: string;
  /** Decoded segments used for matching ('/a/b/' -> ['a','b','']); 1:1 with the raw segments. */
  readonly segments: readonly string[];
}

const PLAIN = 0;
const SLASH = 1;
const PERCENT = 2;
const QUESTION = 3;
const REJECT = 4;

// One table lookup per character keeps the common case (plain ASCII, no '%') a single pass with no regex.
const PATH_CLASS = new Uint8Array(128);
for (let c = 0; c <= 0x20; c++) PATH_CLASS[c] = REJECT; // controls and space: request-line smuggling
PATH_CLASS[0x7f] = REJECT;
PATH_CLASS[0x5c] = REJECT; // '\': Windows/IIS and some Java servers treat it as '/'
PATH_CLASS[0x3b] = REJECT; // ';': Tomcat/Spring strip path parameters after our decision (`/admin;x`, `..;/`)
PATH_CLASS[0x23] = REJECT; // '#': a fragment is never sent; its presence means a confused or hostile client
PATH_CLASS[0x2f] = SLASH;
PATH_CLASS[0x25] = PERCENT;
PATH_CLASS[0x3f] = QUESTION;

// Bytes that must not appear percent-encoded: decoding them would change the segment structure upstream
// (`%2F`, `%5C`), invite double decoding (`%25`), hide path parameters (`%3B`) or smuggle controls (`%00`, `%0a`).
const FORBIDDEN_DECODED = new Uint8Array(128);
for (let c = 0; c <= 0x1f; c++) FORBIDDEN_DECODED[c] = 1;
FORBIDDEN_DECODED[0x7f] = 1;
FORBIDDEN_DECODED[0x2f] = 1;
FORBIDDEN_DECODED[0x5c] = 1;
FORBIDDEN_DECODED[0x25] = 1;
FORBIDDEN_DECODED[0x3b] = 1;

const HEX = new Int8Array(128).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = 10 + c;
  HEX[0x61 + c] = 10 + c;
}

function badPath(): GatewayError {
  return new GatewayError('bad_path');
}

/**
 * Splits and checks an origin-form target. Throws GatewayError('bad_path') for anything ambiguous:
 * a path that two servers could read as two different resources is never matched, let alone forwarded.
 */
export function parseTarget(target: string): ParsedTarget {
  const length = target.length;
  // Origin-form only (RFC 9112 §3.2.1): absolute-form and '*' would make the Host header ambiguous.
  if (length === 0 || target.charCodeAt(0) !== 0x2f) throw badPath();
  const segments: string[] = [];
  let segStart = 1;
  let escaped = false;
  let end = length;
  for (let i = 1; i < length; i++) {
    const c = target.charCodeAt(i);
    const cls = c < 128 ? PATH_CLASS[c] : REJECT;
    if (cls === PLAIN) continue;
    if (cls === SLASH) {
      segments.push(closeSegment(target, segStart, i, escaped, false));
      segStart = i + 1;
      escaped = false;
    } else if (cls === PERCENT) {
      escaped = true; // the escape itself is validated when the segment is decoded
    } else if (cls === QUESTION) {
      end = i;
      break;
    } else {
      throw badPath();
    }
  }
  segments.push(closeSegment(target, segStart, end, escaped, true));
  if (end === length) return { rawPath: target, query: '', segments };
  checkQuery(target, end + 1);
  return { rawPath: target.slice(0, end), query: target.slice(end), segments };
}

function closeSegment(target: string, start: number, end: number, escaped: boolean, last: boolean): string {
  // '//' lets `//evil.com/x` become a network-path reference upstream and breaks segment counting.
  // A trailing '/' is an empty LAST segment: a distinct, harmless resource.
  if (start === end) {
    if (last) return '';
    throw badPath();
  }
  if (escaped) return decodeSegment(target, start, end);
  const len = end - start;
  if (
    target.charCodeAt(start) === 0x2e &&
    (len === 1 || (len === 2 && target.charCodeAt(start + 1) === 0x2e))
  ) {
    throw badPath(); // dot segments are resolved by some upstreams and not others (RFC 3986 §5.2.4)
  }
  return target.slice(start, end);
}

function hexByte(target: string, i: number, end: number): number {
  if (i + 2 >= end) return -1;
  const h = target.charCodeAt(i + 1);
  const l = target.charCodeAt(i + 2);
  if (h >= 128 || l >= 128) return -1;
  const hv = HEX[h]!;
  const lv = HEX[l]!;
  return hv < 0 || lv < 0 ? -1 : (hv << 4) | lv;
}

// Rare path: only segments that contain '%'. Strict UTF-8 (Unicode Table 3-7): overlong forms (`%C0%AE` = '.'),
// surrogates (`%ED%A0%80`) and truncated sequences are refused, not replaced, so no decoder downstream can
// read the bytes differently from us.
function decodeSegment(target: string, start: number, end: number): string {
  let out = '';
  let runStart = start;
  let nonAscii = false;
  let i = start;
  while (i < end) {
    if (target.charCodeAt(i) !== 0x25) {
      i++;
      continue;
    }
    const b = hexByte(target, i, end);
    if (b < 0) throw badPath();
    out += target.slice(runStart, i);
    i += 3;
    if (b < 0x80) {
      if (FORBIDDEN_DECODED[b] === 1) throw badPath();
      out += String.fromCharCode(b);
    } else {
      let need: number;
      let cp: number;
      let lo = 0x80;
      let hi = 0xbf;
      if (b >= 0xc2 && b <= 0xdf) {
        need = 1;
        cp = b & 0x1f;
      } else if (b >= 0xe0 && b <= 0xef) {
        need = 2;
        cp = b & 0x0f;
        if (b === 0xe0) lo = 0xa0;
        else if (b === 0xed) hi = 0x9f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        need = 3;
        cp = b & 0x07;
        if (b === 0xf0) lo = 0x90;
        else if (b === 0xf4) hi = 0x8f;
      } else {
        throw badPath();
      }
      for (; need > 0; need--) {
        const cb = i < end && target.charCodeAt(i) === 0x25 ? hexByte(target, i, end) : -1;
        if (cb < lo || cb > hi) throw badPath();
        lo = 0x80;
        hi = 0xbf;
        cp = (cp << 6) | (cb & 0x3f);
        i += 3;
      }
      if (cp <= 0x9f) throw badPath(); // C1 controls (U+0080..U+009F)
      out += String.fromCodePoint(cp);
      nonAscii = true;
    }
    runStart = i;
  }
  out += target.slice(runStart, end);
  if (out === '.' || out === '..') throw badPath();
  if (nonAscii) checkCompatibilityForms(out);
  return out;
}

// Upstreams that apply NFKC (some Java and .NET stacks, IIS) turn U+FF0F into '/', U+2025 into '..',
// U+FF3C into '\'. Refusing segments whose compatibility form is structural closes that second decoding.
function checkCompatibilityForms(segment: string): void {
  const folded = segment.normalize('NFKC');
  if (folded === segment) return;
  if (folded === '.' || folded === '..') throw badPath();
  for (let i = 0; i < folded.length; i++) {
    const c = folded.charCodeAt(i);
    if (c === 0x2f || c === 0x5c || c === 0x3b || c === 0x25 || c < 0x20 || c === 0x7f) throw badPath();
  }
}

// The query is forwarded byte for byte and never matched, but bytes that break the request line upstream
// (controls, space, raw non-ASCII) or a fragment must not be forwarded either.
function checkQuery(target: string, from: number): void {
  for (let i = from; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x23) throw badPath();
  }
}
