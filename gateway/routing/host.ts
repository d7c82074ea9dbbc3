// Normalises a Host header value for route matching: lower-case, port and one trailing dot removed, IPv6 brackets kept.
// It does not decide whether the host is served (the router does) nor build X-Forwarded-Host (the client's value as sent).

import { isIPv6 } from 'node:net';
import { GatewayError } from '../errors.js';

const MAX_NAME = 253; // RFC 1035 §2.3.4, without the trailing dot

function badHost(): GatewayError {
  return new GatewayError('bad_request', { message: 'Invalid Host header' });
}

/**
 * `Orders.Example.com:8443` → `orders.example.com`; `[::1]:80` → `[::1]`. Returns the input itself when it is
 * already normal (the common case: no allocation). Throws GatewayError('bad_request') on anything else.
 */
export function normalizeHost(host: string | undefined): string {
  if (host === undefined || host.length === 0) throw badHost();
  if (host.charCodeAt(0) === 0x5b) return normalizeIpLiteral(host);
  let upper = false;
  let colon = -1;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f) continue;
    if (c >= 0x41 && c <= 0x5a) {
      upper = true;
    } else if (c === 0x2e) {
      // An empty label ('.x', 'a..b') is not a DNS name; refusing it keeps one spelling per host.
      if (i === 0 || host.charCodeAt(i - 1) === 0x2e) throw badHost();
    } else if (c === 0x3a) {
      colon = i;
      break;
    } else {
      // Userinfo ('@'), paths, percent-escapes, spaces, controls and raw non-ASCII (IDNs arrive as punycode).
      throw badHost();
    }
  }
  if (colon === 0) throw badHost();
  if (colon !== -1) checkPort(host, colon + 1);
  let nameEnd = colon === -1 ? host.length : colon;
  // `example.com.` is the same DNS name as `example.com`: without this, a trailing dot would dodge a
  // host-specific route and land on a host-less one.
  if (host.charCodeAt(nameEnd - 1) === 0x2e) nameEnd--;
  if (nameEnd > MAX_NAME) throw badHost();
  const name = nameEnd === host.length ? host : host.slice(0, nameEnd);
  return upper ? name.toLowerCase() : name;
}

// RFC 3986 §3.2.3: port = *DIGIT, so an empty port after ':' is valid and means the default.
function checkPort(host: string, from: number): void {
  const digits = host.length - from;
  if (digits > 5) throw badHost();
  let port = 0;
  for (let i = from; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c < 0x30 || c > 0x39) throw badHost();
    port = port * 10 + (c - 0x30);
  }
  if (port > 65535) throw badHost();
}

// Zone identifiers ('%25eth0') are refused: RFC 9110 §7.2 Host carries no zone, and '%' has no place in a name.
function normalizeIpLiteral(host: string): string {
  const close = host.indexOf(']');
  if (close === -1) throw badHost();
  const inner = host.slice(1, close);
  if (inner.includes('%') || !isIPv6(inner)) throw badHost();
  if (close + 1 < host.length) {
    if (host.charCodeAt(close + 1) !== 0x3a) throw badHost();
    checkPort(host, close + 2);
  }
  return host.slice(0, close + 1).toLowerCase();
}
