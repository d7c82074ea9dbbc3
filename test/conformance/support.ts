// Shared pieces of the conformance suite: a gateway in front of recording upstreams, raw-socket clients
// that read every response on a connection, and "what did the upstream get" queries. Not a test file.
import { connect } from 'node:net';
import { expect } from 'vitest';
import { canonicalHeaderName } from '../../gateway/upstream/headers.js';
import { type BaseOverrides, startTestGateway, type TestGateway } from '../support/gateway.js';
import type { Recorded, RecordingUpstream } from '../support/upstreams.js';

/** The accounts helpers log in with this User-Agent: device binding compares it on every request. */
export { PASSWORD, UA } from '../integration/accounts/support.js';
export { expectEnvelope, http, rawExchange, sleep, waitFor } from '../integration/helpers.js';
export const TRUSTED = '127.0.0.2';
export const UNTRUSTED = '127.0.0.3';

/** Cheap hashing and limits no test meets unless it sets its own. */
export const FAST_ARGON2 = 'passwords: { argon2: { memory_kib: 1024, iterations: 1, parallelism: 1 } }';
export const OPEN_LIMITS = `rate_limits:
  global: { anonymous: 1000000/h, authenticated: 1000000/h }
  login: { per_email: 100000/m, per_ip: 100000/m }
  register: { per_email: 100000/m, per_ip: 100000/m }`;
export const OPEN_BRUTE_FORCE = 'brute_force: { failure_limit: 100000, account_failure_limit: 100000 }';

export interface GatewayOptions {
  readonly base?: BaseOverrides;
  /** false: the default (slow, real) Argon2 parameters. */
  readonly fastHash?: boolean;
  /** false: leave rate_limits and brute_force to `yaml`. */
  readonly openLimits?: boolean;
}

/** A real gateway (in-process, port 0) with `yaml` (routes etc.) on top of the test base config. */
export function startGateway(yaml: string, options: GatewayOptions = {}): Promise<TestGateway> {
  const parts = [
    options.fastHash === false ? '' : FAST_ARGON2,
    options.openLimits === false ? '' : `${OPEN_LIMITS}\n${OPEN_BRUTE_FORCE}`,
    yaml,
  ];
  return startTestGateway(parts.join('\n'), { base: { logLevel: 'warn', ...options.base } });
}

export interface ParsedResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

export interface Conversation {
  /** Every complete response read on the connection, in order. */
  readonly responses: ParsedResponse[];
  /** True when the server closed the connection before `waitMs` ran out. */
  readonly closed: boolean;
  readonly raw: string;
}

function parseResponses(data: Buffer, headRequest: boolean): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let rest = data;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) return out;
    const lines = rest.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    let body = rest.subarray(end + 4);
    if (status >= 100 && status < 200 && status !== 101) {
      rest = body;
      continue;
    }
    const length = headRequest ? 0 : Number(headers['content-length'] ?? body.length);
    if (body.length < length) return out;
    rest = body.subarray(length);
    body = body.subarray(0, length);
    out.push({ status, headers, body });
    if (status === 101) return out;
  }
}

/**
 * Writes `data` (all of it, or piece by piece with `gapMs` between pieces) on a fresh connection and
 * reads until the server closes it or `waitMs` passes without it closing. Every response is parsed.
 */
export function converse(
  port: number,
  data: string | Buffer | ReadonlyArray<string | Buffer>,
  options: {
    localAddress?: string;
    waitMs?: number;
    gapMs?: number;
    head?: boolean;
    /** Stop this long after the first complete response instead of waiting for the close. */
    afterResponseMs?: number;
  } = {},
): Promise<Conversation> {
  const waitMs = options.waitMs ?? 600;
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress: options.localAddress });
    const chunks: Buffer[] = [];
    let closed = false;
    let done = false;
    const pieces = typeof data === 'string' || Buffer.isBuffer(data) ? [data] : [...data];
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const all = Buffer.concat(chunks);
      resolve({ responses: parseResponses(all, options.head === true), closed, raw: all.toString('latin1') });
    };
    let timer = setTimeout(finish, waitMs);
    let shortened = false;
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const after = options.afterResponseMs;
      if (after === undefined || shortened) return;
      if (parseResponses(Buffer.concat(chunks), options.head === true).length === 0) return;
      shortened = true;
      clearTimeout(timer);
      timer = setTimeout(finish, after);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      finish();
    });
    const writeNext = (): void => {
      const piece = pieces.shift();
      if (piece === undefined || socket.destroyed) return;
      socket.write(piece);
      if (pieces.length > 0) setTimeout(writeNext, options.gapMs ?? 0);
    };
    socket.once('connect', writeNext);
  });
}

/** The gateway's error envelope on a raw response: status, JSON content type, `{status, message, code}`. */
export function expectRawEnvelope(res: ParsedResponse | undefined, status: number, code: string): void {
  expect(res, 'a response').toBeDefined();
  const body = (() => {
    try {
      return JSON.parse(res!.body.toString()) as Record<string, unknown>;
    } catch {
      return { unparsable: res!.body.toString() };
    }
  })();
  expect({ status: res!.status, code: body.code, envelope: body.status }).toEqual({
    status,
    code,
    envelope: 'failed',
  });
  expect(res!.headers['content-type']).toMatch(/^application\/json/);
}

/** Requests an upstream received after `mark` (its request count at the time). */
export function since(up: RecordingUpstream, mark: number): Recorded[] {
  return up.requests.slice(mark);
}

/** Every value the upstream got under a name whose canonical form (case, `_`/`-`) is `name`. */
export function valuesOf(seen: Recorded, name: string): string[] {
  const want = canonicalHeaderName(name);
  const out: string[] = [];
  for (let i = 0; i < seen.rawHeaders.length; i += 2)
    if (canonicalHeaderName(seen.rawHeaders[i]!) === want) out.push(seen.rawHeaders[i + 1]!);
  return out;
}

/** A request head (CRLF line endings) for raw sends; `lines` are extra header lines without CRLF. */
export function head(
  method: string,
  target: string,
  lines: readonly string[] = [],
  host = 'gw.test',
): string {
  const all = [`${method} ${target} HTTP/1.1`, `Host: ${host}`, ...lines];
  return `${all.join('\r\n')}\r\n\r\n`;
}

/** Monotonic unique suffix, so each case's requests are told apart at the upstream. */
let seq = 0;
export function uniq(prefix = 'c'): string {
  seq += 1;
  return `${prefix}${seq}`;
}

export type { Recorded, RecordingUpstream, TestGateway };
