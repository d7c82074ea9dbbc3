// The JSON body reader of the gateway's own endpoints, on a real node:http server and a raw client
// socket: a client that leaves before or while its body is read ends the read with an error instead
// of leaving the handler (and a shutdown waiting for it) pending for good; bytes that are not UTF-8
// and objects that repeat a key are refused, and characters split across packets are read whole.

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

/** Sends the head, then `body` in pieces of `piece` bytes (each its own TCP segment, 2 ms apart). */
function post(
  port: number,
  body: string | Buffer,
  contentLength = Buffer.byteLength(body),
  piece = Number.POSITIVE_INFINITY,
): Promise<Socket> {
  const bytes = Buffer.from(body);
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true }, () => {
      socket.write(
        `POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${contentLength}\r\n\r\n`,
      );
      let at = 0;
      const next = (): void => {
        if (at >= bytes.length || socket.destroyed) return;
        socket.write(bytes.subarray(at, at + piece));
        at += piece;
        setTimeout(next, 2);
      };
      next();
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

describe('readJsonObject and the bytes it is sent', () => {
  const read = async (body: string | Buffer, piece?: number): Promise<Outcome | 'pending'> => {
    const { port, outcome } = await serve(() => Promise.resolve());
    const socket = await post(port, body, Buffer.byteLength(body), piece);
    const result = await outcome;
    socket.destroy();
    return result;
  };

  it.each([
    ['0xFF 0xFE', '\xff\xfe'],
    ['an overlong form', '\xc0\xc1'],
    ['an encoded surrogate', '\xed\xa0\x80'],
    ['a sequence cut short', '\xe2\x82'],
  ])('%s in a string → invalid_json, never U+FFFD', async (_name, bytes) => {
    const body = Buffer.concat([
      Buffer.from('{"password":"a'),
      Buffer.from(bytes, 'latin1'),
      Buffer.from('b"}'),
    ]);
    expect(await read(body)).toMatchObject({ ok: false, code: 'invalid_json' });
  });

  it.each([
    ['a high surrogate alone', '{"password":"a\\ud800b"}'],
    ['a low surrogate alone', '{"password":"a\\uDFFFb"}'],
    ['a low surrogate before its high one', '{"password":"\\udc00\\ud800"}'],
    ['half a pair in a key', '{"\\ud83d":1}'],
    ['half a pair deep in an array', `{"a":[[[${'[1],'.repeat(100)}"\\ud800"]]]}`],
  ])('%s → invalid_json: it would read as U+FFFD, one password for many', async (_name, body) => {
    expect(await read(body)).toMatchObject({ ok: false, code: 'invalid_json' });
  });

  it('an escaped pair, a raw astral character and a BMP escape are read as characters', async () => {
    expect(await read('{"k":"\\ud83d\\udd11 🔑 \\u00e9 \\ud7ff \\ue000"}')).toEqual({
      ok: true,
      value: { k: '🔑 🔑 é \ud7ff \ue000' },
    });
  });

  it('a byte order mark → invalid_json (it is not stripped)', async () => {
    expect(await read(Buffer.from('\xef\xbb\xbf{"a":1}', 'latin1'))).toMatchObject({
      ok: false,
      code: 'invalid_json',
    });
  });

  it('characters split across packets, one byte per packet, are read whole', async () => {
    const value = { name: 'Zoë 李 🔑', note: 'é'.repeat(20) };
    expect(await read(JSON.stringify(value), 1)).toEqual({ ok: true, value });
  });

  it('an object that repeats a key → invalid_json naming the key', async () => {
    expect(await read('{"email":"a@example.com","x":{"k":1},"email":"b@example.com"}')).toEqual({
      ok: false,
      code: 'invalid_json',
      message: 'Request body repeats the key "email" in one object',
    });
  });
});
