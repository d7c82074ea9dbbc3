// Reads the bodies of the gateway's own endpoints: application/json only (415), bounded by
// server.body_limit on the announced length and on the bytes read (413), UTF-8 JSON whose objects repeat
// no key, and an object, else 400. It does not decide which endpoints take a body (own-endpoints does).
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';
import { firstDuplicateKey, shapeProblem } from './duplicate-keys.js';

const JSON_TYPE = /^application\/json\s*(;|$)/i;
// fatal: invalid bytes are a parse error, never U+FFFD (two different byte strings must not read as one
// password). ignoreBOM keeps a byte order mark in the text, where JSON.parse refuses it (RFC 8259 §8.1).
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** A `\u` escape of a surrogate (D800-DFFF): only a pair of them is a character. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const LONE_SURROGATE = /\p{Cs}/u;
/** Longest key quoted back in an error message. */
const KEY_SHOWN = 64;

/** RFC 9112 §6.3: a request has a body when it says Transfer-Encoding, or a Content-Length above 0. */
export function carriesBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) > 0);
}

/**
 * The checks a body's headers allow before any byte of it is read: a JSON type (415) and an announced
 * length within `limit` (413). Throws; run it before `100 Continue`, so a refused body is never sent.
 */
export function checkBodyHeaders(req: IncomingMessage, limit: number): void {
  const type = req.headers['content-type'];
  if (type === undefined || !JSON_TYPE.test(type)) throw new GatewayError('unsupported_media_type');
  const announced = req.headers['content-length'];
  if (announced !== undefined && Number(announced) > limit) {
    // Closing stops a client that would otherwise stream the oversized body into our socket.
    throw new GatewayError('payload_too_large', { close: true });
  }
}

export interface BodyOptions {
  /** false: read and drop the bytes, for an endpoint that takes no body but must not leave one unread. */
  readonly keep?: boolean;
  /**
   * The whole body must have arrived this many ms after the read starts, else 408 and the connection
   * closed: a body trickled faster than the idle timeout would otherwise hold the request for as long
   * as its limit allows.
   */
  readonly deadlineMs?: number;
}

/** The whole body, at most `limit` bytes (413 past them, the connection then closed). */
export function readBody(req: IncomingMessage, limit: number, options: BodyOptions = {}): Promise<Buffer> {
  const keep = options.keep ?? true;
  // A client that left before the body was read (it waited on an earlier stage, e.g. a Redis check)
  // leaves a destroyed request that will never emit 'end' or 'error': without this the handler, and a
  // shutdown waiting for it, would wait for good.
  if (req.destroyed && !req.readableEnded) return Promise.reject(clientGone());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (): void => {
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
    };
    const fail = (err: GatewayError): void => {
      settle();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        fail(new GatewayError('payload_too_large', { close: true }));
        return;
      }
      if (keep) chunks.push(chunk);
    };
    req.on('data', onData);
    // `on`, not `once`: a second 'error' with no listener would crash the process.
    req.on('error', (err) => fail(new GatewayError('bad_request', { cause: err, close: true })));
    // 'close' without 'end' first: the client left mid-body (an aborted request may emit no 'error').
    req.once('close', () => {
      if (!settled) fail(clientGone());
    });
    req.once('end', () => {
      if (settled) return;
      settle();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    if (options.deadlineMs !== undefined && !settled) {
      timer = setTimeout(() => {
        if (settled) return;
        req.off('data', onData);
        fail(new GatewayError('request_timeout', { close: true }));
      }, options.deadlineMs);
    }
  });
}

/** The bytes as a JSON object: invalid UTF-8, invalid JSON or a repeated key → 400 invalid_json. */
export function parseJsonObject(bytes: Buffer): Record<string, unknown> {
  let value: unknown;
  let text: string;
  try {
    // Decoded once, whole: a character split across network chunks is read as one.
    text = UTF8.decode(bytes);
  } catch (err) {
    throw new GatewayError('invalid_json', { cause: err });
  }
  const shape = shapeProblem(text);
  if (shape !== null) throw new GatewayError('validation_failed', { message: shape });
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new GatewayError('invalid_json', { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GatewayError('validation_failed', { message: 'Request body must be a JSON object' });
  }
  // RFC 8259 §8.2, RFC 7493 §2.1: half a pair decodes differently everywhere (our password hasher
  // reads it as U+FFFD), so `\ud800` and `\udfff` would be one password. Looked for only when escaped.
  if (SURROGATE_ESCAPE.test(text) && holdsLoneSurrogate(value)) {
    throw new GatewayError('invalid_json', {
      message: 'Request body escapes half of a surrogate pair (\\uD800-\\uDFFF alone is not a character)',
    });
  }
  const repeated = firstDuplicateKey(text);
  if (repeated !== null) {
    const shown = JSON.stringify([...repeated].slice(0, KEY_SHOWN).join(''));
    throw new GatewayError('invalid_json', {
      message: `Request body repeats the key ${shown} in one object`,
    });
  }
  return value as Record<string, unknown>;
}

/** Whether any string or key in `value` holds an unpaired surrogate; iterative (bodies may nest deep). */
function holdsLoneSurrogate(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const v = pending.pop();
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return true;
    } else if (Array.isArray(v)) {
      for (const item of v) pending.push(item);
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, inner] of Object.entries(v)) {
        if (LONE_SURROGATE.test(k)) return true;
        pending.push(inner);
      }
    }
  }
  return false;
}

/** Headers checked, body read and parsed: for a caller with no `100 Continue` to send in between. */
export function readJsonObject(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  try {
    checkBodyHeaders(req, limit);
  } catch (err) {
    return Promise.reject(err);
  }
  return readBody(req, limit).then(parseJsonObject);
}

/** The body can no longer be read: the client closed the connection (nobody sees this answer). */
const clientGone = (): GatewayError =>
  new GatewayError('bad_request', {
    message: 'The client closed the connection before its request body was read',
    close: true,
  });

/** A required string field; the message names the field. */
export function stringField(body: Record<string, unknown>, name: string, max = 1024): string {
  const value = body[name];
  if (value === undefined || value === null) {
    throw new GatewayError('validation_failed', { message: `${name}: this field is required` });
  }
  if (typeof value !== 'string')
    throw new GatewayError('validation_failed', { message: `${name}: must be a string` });
  if ([...value].length > max) {
    throw new GatewayError('validation_failed', { message: `${name}: must be at most ${max} characters` });
  }
  return value;
}

/** An optional string field: absent or null → undefined; another type → validation_failed. */
export function optionalStringField(
  body: Record<string, unknown>,
  name: string,
  max = 1024,
): string | undefined {
  return body[name] === undefined || body[name] === null ? undefined : stringField(body, name, max);
}
