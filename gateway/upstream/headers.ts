// Decides which request and response headers cross the gateway (RFC 9110 §7.6.1 hop-by-hop rules)
// and which names are the gateway's own. It does not add values: the identity stage does that.

/**
 * Canonical names already computed, by name as sent: names of at most 64 characters, at most 1,024 of
 * them (≈ 128 KiB), emptied when full: a client may send any names, as long as its header limit allows.
 */
const canonicalNames = new Map<string, string>();
const CANONICAL_NAMES_MAX = 1024;
const CANONICAL_NAME_CACHED_LENGTH = 64;

/** Canonical header name: case-insensitive, `_` and `-` the same (some upstream stacks fold them). */
export function canonicalHeaderName(name: string): string {
  let canonical = canonicalNames.get(name);
  if (canonical !== undefined) return canonical;
  const lower = name.toLowerCase();
  canonical = lower.includes('_') ? lower.replaceAll('_', '-') : lower;
  if (name.length > CANONICAL_NAME_CACHED_LENGTH) return canonical;
  if (canonicalNames.size === CANONICAL_NAMES_MAX) canonicalNames.clear();
  canonicalNames.set(name, canonical);
  return canonical;
}

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
  'http2-settings',
];

/** Forwarded metadata is rebuilt by the gateway; a client copy is never believed downstream. */
const FORWARDED_METADATA = ['forwarded', 'x-real-ip', 'x-request-id', 'x-client-ip', 'true-client-ip'];

/**
 * Headers that make an upstream framework serve another path or method than the one the gateway matched
 * (IIS/Symfony/Drupal read X-Original-URL and X-Rewrite-URL; Laravel, Express method-override and others
 * honour the method overrides): a GET-only or public route would become a DELETE or an admin path.
 */
const REQUEST_OVERRIDES = [
  'x-original-url',
  'x-original-uri',
  'x-rewrite-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
];

export const DEFAULT_IDENTITY_HEADERS = [
  'x-user-id',
  'x-user-email',
  'x-user-roles',
  'x-session-id',
  'x-auth-assertion',
];

/** Headers a client's `Connection` list may never remove: framing and routing depend on them. */
const PROTECTED = new Set(['host', 'content-length', 'content-type']);

export interface RequestHeaderPolicy {
  /** Canonical names stripped from every client request, on every route. */
  readonly drop: ReadonlySet<string>;
}

export function createRequestHeaderPolicy(identityHeaderNames: readonly string[]): RequestHeaderPolicy {
  const drop = new Set<string>([
    ...HOP_BY_HOP,
    ...FORWARDED_METADATA,
    ...REQUEST_OVERRIDES,
    ...DEFAULT_IDENTITY_HEADERS,
    'expect',
  ]);
  for (const name of identityHeaderNames) drop.add(canonicalHeaderName(name));
  return { drop };
}

function isDropped(
  canonical: string,
  policy: RequestHeaderPolicy,
  nominated: ReadonlySet<string> | null,
): boolean {
  // `Proxy-*` is for the proxy (RFC 9110 §11.7: Proxy-Authorization holds the client's credentials for
  // us), never for the upstream: Proxy-Connection, Proxy-Authenticate and any other so named.
  if (policy.drop.has(canonical) || canonical.startsWith('x-forwarded-') || canonical.startsWith('proxy-'))
    return true;
  return nominated?.has(canonical) === true && !PROTECTED.has(canonical);
}

/** What `Connection: close` nominates: a field named `close`, which is dropped like any other so named. */
const CLOSE: ReadonlySet<string> = new Set(['close']);

/** The field names a `Connection` value nominates; null for none beyond the hop-by-hop ones. */
function nominatedBy(connection: string | undefined): ReadonlySet<string> | null {
  // The values nearly every message carries, answered without a parse or a new set: `keep-alive`
  // nominates a field that is hop-by-hop anyway.
  if (connection === undefined || connection === 'keep-alive' || connection === 'Keep-Alive') return null;
  if (connection === 'close' || connection === 'Close') return CLOSE;
  const names = new Set<string>();
  for (const part of connection.split(',')) {
    const name = part.trim();
    if (name !== '') names.add(canonicalHeaderName(name));
  }
  return names;
}

/**
 * Copies the client's headers that may reach the upstream into `out` as a flat [name, value, ...] list,
 * in the client's order and casing. `Authorization` is kept only when `keepAuthorization` is set.
 */
export function filterRequestHeaders(
  rawHeaders: readonly string[],
  connection: string | undefined,
  policy: RequestHeaderPolicy,
  keepAuthorization: boolean,
  out: string[],
): void {
  const nominated = nominatedBy(connection);
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const canonical = canonicalHeaderName(name);
    if (isDropped(canonical, policy, nominated)) continue;
    // `Content_Length` frames nothing here, but a CGI-style upstream that folds `_` into `-` would read it.
    if (canonical === 'content-length' && name.includes('_')) continue;
    if (canonical === 'authorization' && !keepAuthorization) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
}

// `Trailer` announces the answer's trailer fields, which are relayed (http-client.ts): end to end.
const RESPONSE_HOP_BY_HOP = new Set(HOP_BY_HOP.filter((name) => name !== 'trailer'));

/**
 * Fields that may never come as trailers: every hop-by-hop one (`Trailer` included) and those RFC 9110
 * §6.5.1 keeps out of them (framing, routing, authentication, control).
 */
const NOT_TRAILERS = new Set([
  ...HOP_BY_HOP,
  'content-length',
  'content-type',
  'content-encoding',
  'content-range',
  'host',
  'set-cookie',
  'www-authenticate',
  'cache-control',
  'expires',
  'date',
  'location',
  'retry-after',
  'vary',
]);

/** The upstream's trailer fields to relay, as [name, value] pairs, minus NOT_TRAILERS. `raw` is undici's flat list. */
export function relayableTrailers(raw: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (NOT_TRAILERS.has(name)) continue;
    out.push([name, raw[i + 1]!]);
  }
  return out;
}

/**
 * Response headers from the upstream minus hop-by-hop ones and those its `Connection` names. Takes and
 * returns the flat [name, value, ...] list, names lowercase, that Node's writeHead takes in one pass; a
 * repeated field (Set-Cookie) stays repeated. Filters `headers` in place.
 */
export function filterResponseHeaders(headers: string[]): string[] {
  let nominated: ReadonlySet<string> | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'connection') continue;
    const named = nominatedBy(headers[i + 1]);
    // Several Connection fields are one list (RFC 9110 §5.3).
    if (named !== null) nominated = nominated === null ? named : new Set([...nominated, ...named]);
  }
  let kept = 0;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (RESPONSE_HOP_BY_HOP.has(name)) continue;
    if (nominated?.has(name) === true && !PROTECTED.has(name)) continue;
    headers[kept++] = name;
    headers[kept++] = headers[i + 1]!;
  }
  headers.length = kept;
  return headers;
}
