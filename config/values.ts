// Pure checks for the config's structured strings (route paths, upstream URLs, hosts, CIDRs, header names).
// Each returns the normalised value or a message that never echoes the input (it may hold credentials).
import { BlockList, isIP } from 'node:net';
import { parseRedisUrl } from './redis-url.js';
import type { Rate } from './types.js';
import { formatDuration, parseDuration, parseRate, parseSize, UNIT_MESSAGES } from './units.js';

export type Checked<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const bad = (message: string): Checked<never> => ({ ok: false, message });

/** Lifts a string check to any input: YAML gives numbers and booleans too. */
export const fromString =
  <T>(check: (text: string) => Checked<T>) =>
  (input: unknown): Checked<T> =>
    typeof input === 'string' ? check(input) : bad('must be a string');

/** `""` means "not set" (null); anything else goes through `check`. */
export const emptyIsNull =
  <T>(check: (input: unknown) => Checked<T>) =>
  (input: unknown): Checked<T | null> =>
    input === '' ? ok(null) : check(input);

export const emptyStringIsNull = (text: string): Checked<string | null> =>
  ok(text.trim() === '' ? null : text);

export function checkDuration(
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): (input: unknown) => Checked<number> {
  return (input) => {
    const ms = typeof input === 'string' ? parseDuration(input) : null;
    if (ms === null) return bad(UNIT_MESSAGES.duration);
    if (ms < min) return bad(min === 1 ? 'must be longer than 0' : `must be at least ${min}ms`);
    // The bound in the config's own units (30d, 1h): each key's bound is its own, not one for all.
    if (ms > max) return bad(`must be at most ${formatDuration(max)}`);
    return ok(ms);
  };
}

export function checkSize(input: unknown): Checked<number> {
  const bytes = typeof input === 'string' || typeof input === 'number' ? parseSize(input) : null;
  return bytes === null ? bad(UNIT_MESSAGES.size) : ok(bytes);
}

export function checkRate(input: unknown): Checked<Rate> {
  const rate = typeof input === 'string' ? parseRate(input) : null;
  return rate === null ? bad(UNIT_MESSAGES.rate) : ok(rate);
}

/** A size within [min, max] bytes; `label` spells the bounds as the docs do (`1kb to 1mb`). */
export function checkSizeWithin(
  min: number,
  max: number,
  label: string,
): (input: unknown) => Checked<number> {
  return (input) => {
    const r = checkSize(input);
    if (!r.ok) return r;
    return r.value < min || r.value > max ? bad(`must be from ${label}`) : r;
  };
}

export const MIN_ADMIN_TOKEN_LENGTH = 32;
/** 40 spaces or `abab…` pass a length rule. A random 32-character hex token has fewer than 8 different
 * characters with probability 3.5e-8 (64 hex characters: 1e-19; `openssl rand -hex 32` gives 64). */
export const MIN_ADMIN_TOKEN_DISTINCT = 8;

/** `""` turns the admin API off; a short or repetitive bearer token guarding user management is guessable. */
export function checkAdminToken(text: string): Checked<string | null> {
  if (text === '') return ok(null);
  // A bearer token travels in a header: white space would be cut or folded, controls refused.
  if (/[\s\p{Cc}]/u.test(text)) return bad('must not contain white space or control characters');
  const chars = [...text];
  if (chars.length < MIN_ADMIN_TOKEN_LENGTH)
    return bad(`must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (or empty to turn the admin API off)`);
  if (new Set(chars).size < MIN_ADMIN_TOKEN_DISTINCT)
    return bad(`must have at least ${MIN_ADMIN_TOKEN_DISTINCT} different characters`);
  return ok(text);
}

// RFC 9110 §5.6.2 token characters: header names and methods.
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOSTNAME_RE = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const ROUTE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A route (or auth) path prefix, normalised to no trailing slash except `/` itself. */
export function checkRoutePath(text: string): Checked<string> {
  if (!text.startsWith('/')) return bad('must start with /');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this rejects
  if (/[\s\u0000-\u001f\u007f]/.test(text)) return bad('must not contain spaces or control characters');
  // Routes are matched against the decoded path; an escape here could never match (or match twice).
  if (text.includes('%')) return bad('must not contain % (write the path decoded)');
  if (text.includes(';')) return bad('must not contain ;');
  if (text.includes('\\')) return bad('must not contain \\');
  if (/[?#]/.test(text)) return bad('must not contain ? or # (routes match the path only)');
  if (text.includes('//')) return bad('must not contain an empty segment (//)');
  if (text.split('/').some((s) => s === '.' || s === '..')) return bad('must not contain . or .. segments');
  return ok(text.length > 1 && text.endsWith('/') ? text.slice(0, -1) : text);
}

export function checkRouteName(text: string): Checked<string> {
  return ROUTE_NAME_RE.test(text) ? ok(text) : bad("must be 1-64 letters, digits, '.', '_' or '-'");
}

export function checkMethod(text: string): Checked<string> {
  return TOKEN_RE.test(text) ? ok(text.toUpperCase()) : bad('must be an HTTP method like GET');
}

/** Host to match: lower-cased, port and trailing dot stripped; "" means any host. */
export function checkHost(text: string): Checked<string | null> {
  if (text === '') return ok(null);
  const lower = text.toLowerCase();
  const v6 = /^(\[[0-9a-f:.]+\])(?::\d{1,5})?$/.exec(lower);
  if (v6?.[1] && isIP(v6[1].slice(1, -1)) === 6) return ok(v6[1]);
  const host = lower.replace(/:\d{1,5}$/, '').replace(/\.$/, '');
  if (host.length <= 253 && HOSTNAME_RE.test(host)) return ok(host);
  return bad('must be a host name like api.example.com (no scheme, path, port range or wildcard)');
}

/** A name the admin listener answers for (admin.allowed_hosts): a host name or IP literal, no port. */
export function checkAdminHost(text: string): Checked<string> {
  const checked = checkHost(text);
  if (!checked.ok) return checked;
  return checked.value === null ? bad('must be a host name like admin.internal') : ok(checked.value);
}

/** An upstream base URL reduced to its origin: the client's path is forwarded as is. */
export function checkUpstream(text: string): Checked<string> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return bad('must be an http(s) URL like http://127.0.0.1:3000');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return bad('must be an http(s) URL like http://127.0.0.1:3000');
  }
  if (url.username !== '' || url.password !== '') return bad('must not contain credentials');
  if (/[?#]/.test(text)) return bad('must not have a query or fragment');
  if (url.pathname !== '/') return bad('must not have a path (the request path is forwarded as is)');
  return ok(url.origin);
}

/** A browser origin for CORS; `*` is refused: the gateway never reflects an arbitrary Origin. */
export function checkOrigin(text: string): Checked<string> {
  const hint = 'must be an origin like https://app.example.com';
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return bad(hint);
    return url.origin === text.replace(/\/$/, '') ? ok(url.origin) : bad(hint);
  } catch {
    return bad(hint);
  }
}

/** A request header name a cross-origin page may send (server.cors.allowed_headers), lower-cased. */
export function checkCorsHeader(text: string): Checked<string> {
  // RFC 9110 §5.6.2 token; `*` is refused like an origin `*`: what a page may send is listed.
  if (!/^[!#$%&'+.^_`|~0-9A-Za-z-]{1,64}$/.test(text)) return bad('must be a header name like If-Match');
  return ok(text.toLowerCase());
}

/** An IP address or a CIDR block, checked the way node:net's BlockList will use it. */
export function checkProxy(text: string): Checked<string> {
  const hint = 'must be an IP address or CIDR like 10.0.0.0/8';
  if (isIP(text) !== 0) return ok(text);
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  const family = m?.[1] ? isIP(m[1]) : 0;
  if (!m?.[1] || family === 0) return bad(hint);
  const prefix = Number(m[2]);
  if (prefix > (family === 4 ? 32 : 128)) return bad(hint);
  try {
    new BlockList().addSubnet(m[1], prefix, family === 4 ? 'ipv4' : 'ipv6');
  } catch {
    return bad(hint);
  }
  return ok(text);
}

// Headers an identity header must never shadow: framing, credentials and the gateway's own metadata.
const RESERVED_HEADERS = new Set([
  'host',
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'forwarded',
  'via',
  'origin',
  'user-agent',
  'dpop',
  'x-request-id',
  'x-real-ip',
]);

/** Canonical form used to compare header names: case-insensitive, `_` and `-` the same. */
export function canonicalHeader(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
}

export function checkHeaderName(text: string): Checked<string> {
  if (!TOKEN_RE.test(text)) return bad('must be an HTTP header name like X-User-Id');
  const canon = canonicalHeader(text);
  if (RESERVED_HEADERS.has(canon) || canon.startsWith('x-forwarded-') || canon.startsWith('sec-')) {
    return bad(`${text} is reserved: choose another header name`);
  }
  return ok(text);
}

export function checkUsersStore(text: string): Checked<string> {
  const hint = 'must be sqlite:<path> or a postgres:// URL';
  if (text.startsWith('sqlite:')) return text.length > 'sqlite:'.length ? ok(text) : bad(hint);
  if (!/^postgres(ql)?:\/\//.test(text)) return bad(hint);
  return URL.canParse(text) ? ok(text) : bad(hint);
}

/** `memory`, or a URL the Redis store can use (redis-url.ts: one host, Sentinel's and Cluster's lists). */
export function checkStateStore(text: string): Checked<string> {
  if (text === 'memory') return ok(text);
  try {
    parseRedisUrl(text);
    return ok(text);
  } catch (err) {
    // Its messages name the key (storage.state: …), which the report already does.
    return bad(`must be memory or a Redis URL (${(err as Error).message.replace(/^storage\.state: /, '')})`);
  }
}

/** `127.0.0.1:8081` or `[::1]:8081` → listen address; "" → null (not started). */
/**
 * An address a listener can bind: an IP literal or a host name (all-digit names like 999.1.1.1 are
 * neither: the resolver would fail at start).
 */
function isListenHost(host: string): boolean {
  if (isIP(host) !== 0) return true;
  const lower = host.toLowerCase();
  return lower.length <= 253 && HOSTNAME_RE.test(lower) && !/^[0-9.]+$/.test(lower);
}

/** `server.host`, `admin.host`: what the listener binds, without scheme or port. */
export function checkListenHost(text: string): Checked<string> {
  if (isListenHost(text)) return ok(text);
  return bad(
    'must be an IP address like 127.0.0.1 or ::, or a host name like localhost (no scheme, no port)',
  );
}

export function checkEchoUpstream(text: string): Checked<{ host: string; port: number } | null> {
  if (text === '') return ok(null);
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  const host = m?.[1]?.replace(/^\[(.*)\]$/, '$1') ?? '';
  if (!m || port > 65535 || !isListenHost(host)) {
    return bad('must be host:port like 127.0.0.1:8081, or "" to turn it off');
  }
  return ok({ host, port });
}
