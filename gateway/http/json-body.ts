// Reads the JSON body of the gateway's own endpoints: application/json only (415), bounded by
// server.body_limit on the announced length and on the bytes read (413), a JSON object or 400.
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';

const JSON_TYPE = /^application\/json\s*(;|$)/i;

export function readJsonObject(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const type = req.headers['content-type'];
  if (type === undefined || !JSON_TYPE.test(type)) {
    return Promise.reject(new GatewayError('unsupported_media_type'));
  }
  const announced = req.headers['content-length'];
  if (announced !== undefined && Number(announced) > limit) {
    // Closing stops a client that would otherwise stream the oversized body into our socket.
    return Promise.reject(new GatewayError('payload_too_large', { close: true }));
  }
  // A client that left before the body was read (it waited on an earlier stage, e.g. a Redis check)
  // leaves a destroyed request that will never emit 'end' or 'error': without this the handler, and a
  // shutdown waiting for it, would wait for good.
  if (req.destroyed && !req.readableEnded) return Promise.reject(clientGone());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (err: GatewayError): void => {
      settled = true;
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
      chunks.push(chunk);
    };
    req.on('data', onData);
    // `on`, not `once`: a second 'error' with no listener would crash the process.
    req.on('error', (err) => fail(new GatewayError('bad_request', { cause: err, close: true })));
    // 'close' without 'end' first: the client left mid-body (an aborted request may emit no 'error').
    req.once('close', () => {
      if (!settled) fail(clientGone());
    });
    req.once('end', () => {
      settled = true;
      if (size > limit) return;
      let value: unknown;
      try {
        value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        reject(new GatewayError('invalid_json', { cause: err }));
        return;
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        reject(new GatewayError('validation_failed', { message: 'Request body must be a JSON object' }));
        return;
      }
      resolve(value as Record<string, unknown>);
    });
  });
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
