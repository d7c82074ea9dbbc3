// Writes every body the gateway itself produces: the `{status, message, data?}` envelope and raw
// error replies on sockets that never became a ServerResponse. It does not decide status codes.
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GatewayError } from '../errors.js';

const JSON_TYPE = 'application/json; charset=utf-8';

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Readonly<Record<string, string>>,
): void {
  const payload = JSON.stringify(body);
  if (headers !== undefined) for (const name in headers) res.setHeader(name, headers[name]!);
  res.setHeader('content-type', JSON_TYPE);
  res.setHeader('content-length', Buffer.byteLength(payload));
  // Answers are personal or short-lived unless the caller says otherwise (the JWKS is cacheable).
  if (headers?.['cache-control'] === undefined) res.setHeader('cache-control', 'no-store');
  res.writeHead(status);
  res.end(payload);
}

export function sendSuccess(
  res: ServerResponse,
  status: number,
  message: string,
  data?: unknown,
  headers?: Readonly<Record<string, string>>,
): void {
  sendJson(
    res,
    status,
    data === undefined ? { status: 'success', message } : { status: 'success', message, data },
    headers,
  );
}

export function errorBody(err: GatewayError): string {
  return JSON.stringify({ status: 'failed', message: err.message, code: err.code });
}

/** Renders a GatewayError on a response whose headers are not sent yet; returns false if too late. */
export function sendError(res: ServerResponse, err: GatewayError): boolean {
  if (res.headersSent) return false;
  if (err.close) res.shouldKeepAlive = false;
  sendJson(res, err.status, { status: 'failed', message: err.message, code: err.code }, err.headers);
  return true;
}

/**
 * An error reply written straight to a socket: for HTTP-level garbage that Node's parser rejected,
 * where no ServerResponse exists. The connection is always closed afterwards.
 */
export function writeRawError(socket: Duplex, err: GatewayError, extraHeaders = ''): void {
  const body = errorBody(err);
  const reason = STATUS_CODES[err.status] ?? 'Error';
  let head = `HTTP/1.1 ${err.status} ${reason}\r\ncontent-type: ${JSON_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n`;
  if (err.headers !== undefined) for (const name in err.headers) head += `${name}: ${err.headers[name]}\r\n`;
  socket.end(`${head}${extraHeaders}\r\n${body}`);
}

/** Sends `100 Continue` to a client that waits for it before its body (RFC 9110 §10.1.1). */
export function continueIfExpected(req: IncomingMessage, res: ServerResponse): void {
  const expect = req.headers.expect;
  if (expect !== undefined && expect.toLowerCase() === '100-continue' && !res.headersSent)
    res.writeContinue();
}
