// The main listener's response: a ServerResponse that keeps the headers every reply to its request
// carries (X-Request-Id, RateLimit-*, CORS, DPoP-Nonce) aside until the status line is written, so a
// forwarded answer goes out through Node's one-pass writeHead instead of its header-by-header path.
import {
  type IncomingMessage,
  type OutgoingHttpHeader,
  type OutgoingHttpHeaders,
  ServerResponse,
} from 'node:http';

type HeaderList = OutgoingHttpHeaders | OutgoingHttpHeader[];

/** Where the first `end` entries of a flat [name, value, ...] list with lowercase names name `lower`; -1 if nowhere. */
function listIndex(list: readonly OutgoingHttpHeader[], lower: string, end: number): number {
  for (let i = 0; i < end; i += 2) if (list[i] === lower) return i;
  return -1;
}

/**
 * Fields that are lists of names, joined with the upstream's instead of giving way to them: Vary (RFC
 * 9110 §12.5.5: a cache keyed on the upstream's list alone would hand one origin's CORS answer to
 * another) and Access-Control-Expose-Headers (an upstream's own CORS middleware exposing `ETag` must not
 * hide RateLimit-*, WWW-Authenticate or DPoP-Nonce from the browser app).
 */
const NAME_LISTS = new Set(['vary', 'access-control-expose-headers']);

/** The upstream's list with ours added, each name once; `*` (every name) is kept as it is. */
function joinNames(theirs: OutgoingHttpHeader | undefined, ours: string): OutgoingHttpHeader {
  const text = Array.isArray(theirs) ? theirs.join(', ') : String(theirs ?? '');
  const names = new Set(text.split(',').map((n) => n.trim().toLowerCase()));
  if (names.has('*')) return text;
  const missing = ours.split(',').filter((n) => !names.has(n.trim().toLowerCase()));
  if (missing.length === 0) return text;
  const added = missing.map((n) => n.trim()).join(', ');
  return text.trim() === '' ? added : `${text}, ${added}`;
}

/**
 * RateLimit-Limit, -Remaining and -Reset describe one limit together: an upstream that sends any of them
 * answers for the group, and the gateway adds none of its own (never its Remaining beside their Limit).
 */
const RATE_LIMIT_FIELDS = ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'] as const;

const isRateLimitField = (lowerName: string): boolean => lowerName.startsWith('ratelimit-');

export class GatewayResponse<
  Request extends IncomingMessage = IncomingMessage,
> extends ServerResponse<Request> {
  /** Flat [name, value, ...]; names lowercase. */
  private readonly own: string[] = [];

  /**
   * A header for whatever reply this request gets: the upstream's answer, an error, an own endpoint.
   * A header of the same name set by that reply (or sent by the upstream) takes precedence.
   */
  setReplyHeader(lowerName: string, value: string): void {
    for (let i = 0; i < this.own.length; i += 2) {
      if (this.own[i] === lowerName) {
        this.own[i + 1] = value;
        return;
      }
    }
    this.own.push(lowerName, value);
  }

  /**
   * Whether the reply already has a RateLimit-* field: in the first `theirs` entries of `list` (the
   * upstream's), in `object` (passed to writeHead), or set with setHeader.
   */
  private carriesRateLimit(
    list: readonly OutgoingHttpHeader[] | null,
    theirs: number,
    object: OutgoingHttpHeaders | undefined,
  ): boolean {
    for (const name of RATE_LIMIT_FIELDS) {
      if (this.hasHeader(name)) return true;
      if (list === null ? object?.[name] !== undefined : listIndex(list, name, theirs) !== -1) return true;
    }
    return false;
  }

  /**
   * Adds ours to a flat [name, value, ...] list of an upstream's answer (lowercase names; ours to
   * extend), after it, minus the names the upstream sent itself: an upstream that sets its own
   * X-Request-Id or any rate-limit field answers for them (the three RateLimit-* as one group). Vary and
   * Access-Control-Expose-Headers are joined instead (NAME_LISTS). Returns the list.
   */
  addReplyHeaders<List extends OutgoingHttpHeader[]>(headers: List): List {
    const own = this.own;
    const theirs = headers.length;
    // Whether the reply already carries a RateLimit-* field: decided once, at the first of ours.
    let theirLimits: boolean | undefined;
    for (let i = 0; i < own.length; i += 2) {
      const name = own[i]!;
      if (isRateLimitField(name)) {
        theirLimits ??= this.carriesRateLimit(headers, theirs, undefined);
        if (!theirLimits) headers.push(name, own[i + 1]!);
        continue;
      }
      const at = listIndex(headers, name, theirs);
      if (at === -1) {
        // Names set with setHeader (lowercased by Node) win over ours too.
        if (!this.hasHeader(name)) headers.push(name, own[i + 1]!);
      } else if (NAME_LISTS.has(name)) {
        headers[at + 1] = joinNames(headers[at + 1], own[i + 1]!);
      }
    }
    return headers;
  }

  // Every status line goes through here: Node's end() and write() without writeHead() call
  // writeHead(this.statusCode) themselves.
  override writeHead(statusCode: number, statusMessage?: string, headers?: HeaderList): this;
  override writeHead(statusCode: number, headers?: HeaderList): this;
  override writeHead(
    statusCode: number,
    messageOrHeaders?: string | HeaderList,
    maybeHeaders?: HeaderList,
  ): this {
    const message = typeof messageOrHeaders === 'string' ? messageOrHeaders : undefined;
    const headers = typeof messageOrHeaders === 'string' ? maybeHeaders : messageOrHeaders;
    const own = this.own;
    if (own.length > 0 && !this.headersSent) {
      // The forwarding path passes the upstream's flat list, built for this reply.
      if (Array.isArray(headers)) this.addReplyHeaders(headers);
      else {
        // Whether the reply already carries a RateLimit-* field: decided once, at the first of ours.
        let theirLimits: boolean | undefined;
        for (let i = 0; i < own.length; i += 2) {
          const name = own[i]!;
          if (isRateLimitField(name)) {
            theirLimits ??= this.carriesRateLimit(null, 0, headers);
            if (!theirLimits) this.setHeader(name, own[i + 1]!);
          } else if (headers?.[name] === undefined && !this.hasHeader(name)) {
            this.setHeader(name, own[i + 1]!);
          }
        }
      }
    }
    return message === undefined
      ? super.writeHead(statusCode, headers)
      : super.writeHead(statusCode, message, headers);
  }
}
