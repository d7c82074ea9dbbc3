// Decides the client's address and rebuilds X-Forwarded-For/Proto/Host. A client's own
// X-Forwarded-* is believed only hop by hop, right to left, while each hop is a trusted proxy.
import { BlockList, isIP } from 'node:net';
import { GatewayError } from '../errors.js';
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

function lastValue(header: string | string[] | undefined): string | undefined {
  const joined = Array.isArray(header) ? header.join(',') : header;
  if (joined === undefined) return undefined;
  const parts = joined.split(',');
  return parts[parts.length - 1]!.trim();
}

export function createClientIp(trusted: BlockList | null): Stage {
  return function clientIp(ctx: RequestContext): void {
    const { req } = ctx;
    const peer = normalizeIp(req.socket.remoteAddress ?? '');
    if (peer === '')
      throw new GatewayError('bad_request', { message: 'Connection has no peer address', close: true });
    const hostHeader = req.headers.host ?? '';
    if (trusted === null || !isTrusted(trusted, peer)) {
      ctx.clientIp = peer;
      ctx.forwardedFor = peer;
      ctx.forwardedHost = hostHeader;
      return;
    }
    const xff = req.headers['x-forwarded-for'];
    const joined = Array.isArray(xff) ? xff.join(',') : xff;
    const hops = joined === undefined ? [] : joined.split(',').map((h) => normalizeIp(h.trim()));
    const chain = [peer];
    let client = peer;
    for (let i = hops.length - 1; i >= 0 && isTrusted(trusted, client); i--) {
      const hop = hops[i]!;
      // A hop that is not an address ends the walk: the nearest trusted hop is all we can vouch for.
      if (isIP(hop) === 0) break;
      client = hop;
      chain.unshift(hop);
    }
    ctx.clientIp = client;
    ctx.forwardedFor = chain.join(', ');
    const proto = lastValue(req.headers['x-forwarded-proto']);
    ctx.forwardedProto = proto === 'https' || proto === 'http' ? proto : 'http';
    ctx.forwardedHost = lastValue(req.headers['x-forwarded-host']) || hostHeader;
  };
}
