// Decides the client's address and rebuilds X-Forwarded-For/Proto/Host. A client's own
// X-Forwarded-* is believed only hop by hop, right to left, while each hop is a trusted proxy.
import { BlockList, isIP } from 'node:net';
import { GatewayError } from '../errors.js';
import { limitKey } from '../ip-network.js';
import { normalizeHost } from '../routing/host.js';
import type { RequestContext, Stage } from './context.js';

export function compileTrustedProxies(entries: readonly string[]): BlockList | null {
  if (entries.length === 0) return null;
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return list;
}

/** `::ffff:127.0.0.1` → `127.0.0.1`, so IPv4 clients are keyed and matched the same on dual-stack sockets. */
export function normalizeIp(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function isTrusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/** `:` at `colon` followed by a port (1–5 digits, at most 65535) up to the end of `text`. */
function isPortSuffix(text: string, colon: number): boolean {
  if (text.charCodeAt(colon) !== 0x3a) return false;
  const digits = text.length - colon - 1;
  if (digits < 1 || digits > 5) return false;
  let port = 0;
  for (let i = colon + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
    port = port * 10 + (c - 0x30);
  }
  return port <= 65535;
}

/**
 * One spelling per IPv6 address (RFC 5952: lower case, the longest run of zeros compressed), IPv4-mapped
 * ones as IPv4: a proxy may write `2001:DB8:0::7` for the `2001:db8::7` of another request, and each
 * spelling had its own rate-limit counters and locks. The kernel's own addresses are already canonical.
 */
function canonicalIpv6(address: string): string {
  let text: string;
  try {
    text = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address.toLowerCase(); // a zone index (`fe80::1%eth0`), which URLs do not take
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(text);
  if (mapped === null) return text;
  const hi = Number.parseInt(mapped[1]!, 16);
  const lo = Number.parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * One X-Forwarded-For entry as an address, or null when it is none: a bare IPv4 or IPv6 address, or
 * the forms some proxies write, `1.2.3.4:5555`, `[2001:db8::1]` and `[2001:db8::1]:80`, whose port is
 * dropped. A bare IPv6 address cannot carry a port (`2001:db8::1:80` is an address of its own).
 */
export function forwardedAddress(entry: string): string | null {
  const hop = entry.trim();
  const family = isIP(hop);
  if (family === 4) return hop;
  if (family === 6) return canonicalIpv6(hop);
  if (hop.charCodeAt(0) === 0x5b) {
    const close = hop.indexOf(']');
    // After the literal: nothing, or a port.
    if (close === -1 || (close + 1 < hop.length && !isPortSuffix(hop, close + 1))) return null;
    const inner = hop.slice(1, close);
    return isIP(inner) === 6 ? canonicalIpv6(inner) : null;
  }
  const colon = hop.indexOf(':');
  if (colon === -1 || !isPortSuffix(hop, colon)) return null;
  const address = hop.slice(0, colon);
  return isIP(address) === 4 ? address : null;
}

function lastValue(header: string | string[] | undefined): string | undefined {
  const joined = Array.isArray(header) ? header.join(',') : header;
  if (joined === undefined) return undefined;
  const parts = joined.split(',');
  return parts[parts.length - 1]!.trim();
}

/**
 * A trusted proxy's X-Forwarded-Host, forwarded as sent when it is a Host value (reg-name, IPv4 or
 * [IPv6], optional port); absent or empty, the request's own Host. Anything else is refused like a bad
 * Host: an upstream building URLs from it would otherwise take a path, userinfo or spaces for a host.
 */
function forwardedHost(value: string | undefined, hostHeader: string): string {
  if (value === undefined || value === '') return hostHeader;
  try {
    normalizeHost(value);
  } catch (err) {
    throw new GatewayError('bad_request', {
      message: 'Invalid X-Forwarded-Host header',
      cause: err,
      close: true,
    });
  }
  return value;
}

/** `ipv6Prefix`: server.ipv6_limit_prefix, the network an IPv6 client's limits and locks count under. */
export function createClientIp(trusted: BlockList | null, ipv6Prefix: number): Stage {
  return function clientIp(ctx: RequestContext): void {
    const { req } = ctx;
    const peer = normalizeIp(req.socket.remoteAddress ?? '');
    if (peer === '')
      throw new GatewayError('bad_request', { message: 'Connection has no peer address', close: true });
    const hostHeader = req.headers.host ?? '';
    if (trusted === null || !isTrusted(trusted, peer)) {
      ctx.clientIp = peer;
      ctx.clientIpKey = limitKey(peer, ipv6Prefix);
      ctx.forwardedFor = peer;
      ctx.forwardedHost = hostHeader;
      return;
    }
    const xff = req.headers['x-forwarded-for'];
    const joined = Array.isArray(xff) ? xff.join(',') : xff;
    const hops = joined === undefined ? [] : joined.split(',');
    const chain = [peer];
    let client = peer;
    for (let i = hops.length - 1; i >= 0 && isTrusted(trusted, client); i--) {
      const hop = forwardedAddress(hops[i]!);
      // A hop that is not an address (`unknown`, a host name, an RFC 7239 `_obfuscated` node) ends the
      // walk: the nearest trusted hop is all we can vouch for.
      if (hop === null) break;
      client = hop;
      chain.unshift(hop);
    }
    ctx.clientIp = client;
    ctx.clientIpKey = limitKey(client, ipv6Prefix);
    ctx.forwardedFor = chain.join(', ');
    // Schemes are case-insensitive (RFC 3986 §3.1); anything but http(s) says nothing we could forward.
    const proto = lastValue(req.headers['x-forwarded-proto'])?.toLowerCase();
    ctx.forwardedProto = proto === 'https' || proto === 'http' ? proto : 'http';
    ctx.forwardedHost = forwardedHost(lastValue(req.headers['x-forwarded-host']), hostHeader);
  };
}
