// WebSocket pieces for tests, by hand (RFC 6455): frames, a frame reader, a client that upgrades through
// the gateway, and an upstream that echoes and can send a frame in two halves. No WebSocket library.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface Frame {
  readonly opcode: number;
  readonly payload: Buffer;
}

/** RFC 6455 §5.2; clients mask, servers do not. */
export function frame(opcode: number, payload: Buffer, masked: boolean): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.alloc(2) : len < 65_536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (len < 126) head[1] = len;
  else if (len < 65_536) {
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  if (!masked) return Buffer.concat([head, payload]);
  head[1] = head[1]! | 0x80;
  const key = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ key[i % 4]!;
  return Buffer.concat([head, key, body]);
}

export interface FrameReader {
  next(timeoutMs?: number): Promise<Frame>;
  /** Resolves when the TCP connection is closed by the other side. */
  readonly closed: Promise<void>;
}

export function frameReader(socket: Duplex, initial: Buffer = Buffer.alloc(0)): FrameReader {
  let buffered = initial;
  const frames: Frame[] = [];
  const waiting: Array<(f: Frame) => void> = [];
  const parse = (): void => {
    for (;;) {
      if (buffered.length < 2) return;
      const masked = (buffered[1]! & 0x80) !== 0;
      let len = buffered[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buffered.length < 4) return;
        len = buffered.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buffered.length < 10) return;
        len = Number(buffered.readBigUInt64BE(2));
        off = 10;
      }
      const keyLen = masked ? 4 : 0;
      if (buffered.length < off + keyLen + len) return;
      const payload = Buffer.from(buffered.subarray(off + keyLen, off + keyLen + len));
      if (masked) {
        const key = buffered.subarray(off, off + 4);
        for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i % 4]!;
      }
      const f = { opcode: buffered[0]! & 0x0f, payload };
      buffered = buffered.subarray(off + keyLen + len);
      const w = waiting.shift();
      if (w === undefined) frames.push(f);
      else w(f);
    }
  };
  socket.on('data', (c: Buffer) => {
    buffered = Buffer.concat([buffered, c]);
    parse();
  });
  const closed = new Promise<void>((done) => socket.once('close', () => done()));
  parse();
  return {
    closed,
    next: (timeoutMs = 5_000) =>
      new Promise<Frame>((done, fail) => {
        const f = frames.shift();
        if (f !== undefined) return done(f);
        const timer = setTimeout(() => fail(new Error(`no frame within ${timeoutMs} ms`)), timeoutMs);
        waiting.push((got) => {
          clearTimeout(timer);
          done(got);
        });
      }),
  };
}

export interface WsClient {
  readonly socket: Socket;
  readonly reader: FrameReader;
  send(text: string): void;
}

/**
 * Upgrades through the gateway with `headers` (e.g. authorization) and resolves after the 101. With
 * `allowHalfOpen` the client ignores the gateway's FIN and never closes by itself (a client that hangs on).
 */
export function openWs(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  options: { allowHalfOpen?: boolean } = {},
): Promise<WsClient> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: options.allowHalfOpen ?? false });
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n${extra}\r\n`,
  );
  return new Promise((done, fail) => {
    let buffered = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      buffered = Buffer.concat([buffered, c]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      if (!buffered.subarray(0, 12).toString().startsWith('HTTP/1.1 101')) {
        fail(new Error(`no upgrade: ${buffered.toString()}`));
        socket.destroy();
        return;
      }
      const reader = frameReader(socket, buffered.subarray(end + 4));
      done({ socket, reader, send: (text) => socket.write(frame(0x1, Buffer.from(text), true)) });
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
  });
}

export interface WsUpstream {
  readonly server: Server;
  readonly origin: string;
  /** Upgraded sockets (the server stops tracking them after the 101). */
  readonly sockets: Set<Duplex>;
  /** Text frames received from clients. */
  readonly received: string[];
  /** Every upgrade request as the upstream saw it, and the upstream's side of its connection. */
  readonly upgrades: Array<{ url: string; headers: IncomingHttpHeaders; socket: Duplex }>;
  /** Plain (non-upgrade) requests, `METHOD url`. */
  readonly requests: string[];
  close(): Promise<void>;
}

/**
 * Echoes text frames. A text frame `half:<n>:<ms>` makes it send a binary frame of n bytes in two halves,
 * the second `ms` later (never, when ms is 0), so a test can revoke while the upstream is mid-frame;
 * `tick:<ms>` makes it send a text frame `tick` every `ms` for as long as the connection lasts; `server-close`
 * makes it send a close frame and half-close. Like many servers it never ends its side on the peer's FIN
 * (node:http's upgrade sockets are half-open), so a gateway that only half-closes it leaves it open.
 */
export async function startWsUpstream(): Promise<WsUpstream> {
  const sockets = new Set<Duplex>();
  const received: string[] = [];
  const upgrades: WsUpstream['upgrades'] = [];
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.end('plain');
  });
  server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    upgrades.push({ url: req.url!, headers: req.headers, socket });
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}${GUID}`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    const reader = frameReader(socket, head);
    const loop = async (): Promise<void> => {
      for (;;) {
        const f = await reader.next(3_600_000);
        if (f.opcode === 0x8) {
          socket.end(frame(0x8, f.payload, false));
          return;
        }
        const text = f.payload.toString();
        received.push(text);
        if (text.startsWith('tick:')) {
          const ticks = setInterval(
            () => socket.write(frame(0x1, Buffer.from('tick'), false)),
            Number(text.slice(5)),
          );
          socket.once('close', () => clearInterval(ticks));
        } else if (text === 'server-close') {
          socket.end(frame(0x8, Buffer.from([0x03, 0xe8]), false));
          return;
        } else if (text.startsWith('half:')) {
          const [, size, delay] = text.split(':');
          const whole = frame(0x2, Buffer.alloc(Number(size), 0x61), false);
          const cut = Math.floor(whole.length / 2);
          socket.write(whole.subarray(0, cut));
          if (Number(delay) > 0) setTimeout(() => socket.write(whole.subarray(cut)), Number(delay));
        } else {
          socket.write(frame(f.opcode, f.payload, false));
        }
      }
    };
    void loop().catch(() => undefined);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    server,
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sockets,
    received,
    upgrades,
    requests,
    close: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
}

/** Waits for the close frame the gateway sends: its code and reason, and how long after `since` it came. */
export async function closeFrame(
  c: WsClient,
  since: number,
): Promise<{ code: number; reason: string; ms: number }> {
  for (;;) {
    const f = await c.reader.next(3_000);
    if (f.opcode !== 0x8) continue;
    return {
      code: f.payload.readUInt16BE(0),
      reason: f.payload.subarray(2).toString(),
      ms: Date.now() - since,
    };
  }
}
