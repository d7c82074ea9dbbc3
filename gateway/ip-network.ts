// The network an address belongs to, and the key per-address limits and locks count under: an IPv6
// client holds a whole /64 (RFC 6177), so a per-address count of its addresses would bound nothing.
// Pure string work: no DNS, no sockets. The address itself (logs, X-Forwarded-For, records) stays whole.
import { isIP } from 'node:net';

/** Scratch for one address's eight 16-bit groups: filled and read within one synchronous call. */
const groups = new Uint16Array(8);

function hexValue(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

/** The dotted IPv4 address in `text` from `start` to `end` as a 32-bit number (the text is valid). */
function ipv4Number(text: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      value = value * 256 + octet;
      octet = 0;
    } else octet = octet * 10 + (c - 0x30);
  }
  return value * 256 + octet;
}

/**
 * Fills `groups` from an IPv6 address (`::`, an embedded IPv4 tail and a zone index allowed, the zone
 * ignored); false when `ip` is not one. No allocation: this runs for every IPv6 request.
 */
function readIpv6(ip: string): boolean {
  if (isIP(ip) !== 6) return false;
  const percent = ip.indexOf('%');
  const end = percent === -1 ? ip.length : percent;
  let n = 0;
  let gap = -1;
  let value = 0;
  let digits = 0;
  let start = 0;
  for (let i = 0; i <= end; i++) {
    // A ':' past the end closes the last group.
    const c = i < end ? ip.charCodeAt(i) : 0x3a;
    if (c === 0x3a) {
      if (digits > 0) groups[n++] = value;
      value = 0;
      digits = 0;
      if (i + 1 < end && ip.charCodeAt(i + 1) === 0x3a) {
        gap = n;
        i++;
      }
      start = i + 1;
    } else if (c === 0x2e) {
      // An IPv4 tail (`::ffff:192.0.2.1`, `64:ff9b::192.0.2.1`) ends the address: two groups.
      const v4 = ipv4Number(ip, start, end);
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      break;
    } else {
      value = value * 16 + hexValue(c);
      digits++;
    }
  }
  if (gap !== -1) {
    // `::` stands for the zero groups between what came before it and what came after.
    const after = n - gap;
    for (let k = 0; k < after; k++) groups[7 - k] = groups[n - 1 - k]!;
    for (let k = gap; k < 8 - after; k++) groups[k] = 0;
  }
  return true;
}

/** `groups` with only the first `bits` bits kept, in RFC 5952 form (the longest run of zeros as `::`). */
function maskedIpv6(bits: number): string {
  for (let i = 0; i < 8; i++) {
    const kept = Math.min(16, Math.max(0, bits - i * 16));
    groups[i] = groups[i]! & ((0xffff << (16 - kept)) & 0xffff);
  }
  let run = -1;
  let runLength = 1; // a single zero group is written out, never as `::` (RFC 5952 §4.2.2)
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > runLength) {
      run = i;
      runLength = j - i;
    }
    i = j;
  }
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (i === run) {
      text += '::';
      i += runLength - 1;
      continue;
    }
    if (text !== '' && !text.endsWith(':')) text += ':';
    text += groups[i]!.toString(16);
  }
  return text;
}

const MAPPED = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/**
 * The network of `ip` keeping its first `v4Bits` (IPv4, IPv4-mapped IPv6 included) or `v6Bits` bits, as
 * `203.0.113.0/24` or `2001:db8:1:2::/64`: one spelling per network, however the address was written.
 * Anything that is not an address comes back unchanged.
 */
export function ipNetwork(ip: string, v4Bits: number, v6Bits: number): string {
  const v4 = MAPPED.exec(ip)?.[1] ?? ip;
  if (isIP(v4) === 4) {
    const kept = v4Bits === 0 ? 0 : (ipv4Number(v4, 0, v4.length) >>> (32 - v4Bits)) * 2 ** (32 - v4Bits);
    return `${kept >>> 24}.${(kept >>> 16) & 255}.${(kept >>> 8) & 255}.${kept & 255}/${v4Bits}`;
  }
  if (!readIpv6(ip)) return ip;
  return `${maskedIpv6(v6Bits)}/${v6Bits}`;
}

/**
 * What per-address limits and locks count under: an IPv4 address (IPv4-mapped ones as IPv4) whole, an
 * IPv6 address as its `/v6Prefix` network (`server.ipv6_limit_prefix`; 128 = the whole address). The
 * client IP is already canonical (client-ip.ts), so an IPv4 client costs one scan and no allocation.
 */
export function limitKey(ip: string, v6Prefix: number): string {
  if (ip.indexOf(':') === -1) return ip;
  const mapped = MAPPED.exec(ip);
  if (mapped !== null) return mapped[1]!;
  if (v6Prefix >= 128 || !readIpv6(ip)) return ip;
  return `${maskedIpv6(v6Prefix)}/${v6Prefix}`;
}
