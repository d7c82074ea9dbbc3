// The JSON body reader of the gateway's own endpoints, on a real node:http server and a raw client
// socket: a client that leaves before or while its body is read ends the read with an error instead
// of leaving the handler (and a shutdown waiting for it) pending for good.

import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayError } from '../../gateway/errors.js';
import { readJsonObject } from '../../gateway/http/json-body.js';

let server: Server | undefined;
afterEach(() => {
  server?.closeAllConnections();
  server?.close();
});

type Outcome = { ok: true; value: unknown } | { ok: false; code: string; message: string };

/**
 * A server whose handler runs `before(req)` (the stages in front of the body read), then reads the
 * body; resolves with the reader's outcome, or 'pending' when it has not settled within 2 s.
 */
async function serve(before: (req: IncomingMessage) => Promise<void>): Promise<{
  port: number;
  outcome: Promise<Outcome | 'pending'>;
}> {
  let report!: (o: Outcome | 'pending') => void;
  const outcome = new Promise<Outcome | 'pending'>((resolve) => {
    report = resolve;
  });
  server = createServer((req, res) => {
    void (async () => {
      await before(req);
      const timer = setTimeout(() => report('pending'), 2_000);
      try {
        report({ ok: true, value: await readJsonObject(req, 1024) });
      } catch (err) {
        const e = err as GatewayError;
        report({ ok: false, code: e.code, message: e.message });
      } finally {
        clearTimeout(timer);
        res.destroy();
      }
    })();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { port: address.port, outcome };
}

function post(port: number, body: string, contentLength = Buffer.byteLength(body)): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => {
      socket.write(
        `POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${contentLength}\r\n\r\n${body}`,
      );
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

describe('readJsonObject and a client that leaves', () => {
  it('a client that left while an earlier stage ran: the read fails at once instead of waiting for good', async () => {
    // The handler reads the body only after the client's connection closed (as after a Redis check).
    // A plain listener, not events.once(): that one adds an 'error' listener, which the gateway's stages
    // do not have (IncomingMessage emits its 'aborted' error only to listeners).
    const { port, outcome } = await serve(
      (req) => new Promise((resolve) => (req.destroyed ? resolve() : req.on('close', () => resolve()))),
    );
    const socket = await post(port, '{"email":"a@example.com"}');
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    expect(await outcome).toEqual({
      ok: false,
      code: 'bad_request',
      message: 'The client closed the connection before its request body was read',
    });
  });

  it('a client that leaves mid-body while it is read: the read fails', async () => {
    const { port, outcome } = await serve(() => Promise.resolve());
    const socket = await post(port, '{"email":', 100); // 9 of the 100 bytes announced
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    const result = await outcome;
    expect(result).not.toBe('pending');
    expect(result).toMatchObject({ ok: false, code: 'bad_request' });
  });

  it('a whole body is read as before', async () => {
    const { port, outcome } = await serve(() => Promise.resolve());
    const socket = await post(port, '{"email":"a@example.com"}');
    expect(await outcome).toEqual({ ok: true, value: { email: 'a@example.com' } });
    socket.destroy();
  });
});
