// Upstreams that misbehave at the TCP level, for timeout and protocol-edge tests: one whose connects
// never complete, one that accepts and never answers, and one that writes fixed bytes to any request.
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { spawnPythonServer } from './upstreams.js';

export interface BlackholeUpstream {
  readonly origin: string;
  /** False where the kernel did not drop SYNs to the full listener (tests that need it skip). */
  readonly hangs: boolean;
  close(): Promise<void>;
}

/** True when a connect to `port` is still pending after `ms` (nothing accepted, nothing refused). */
function connectHangs(port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const settle = (hangs: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(hangs);
    };
    const timer = setTimeout(() => settle(true), ms);
    socket.once('connect', () => settle(false));
    socket.once('error', () => settle(false));
  });
}

/** A listener with a full accept queue that is never drained (Python, so nothing accepts for it). */
export async function startBlackholeUpstream(): Promise<BlackholeUpstream> {
  const { child, port } = await spawnPythonServer('blackhole_upstream.py', 'pipe');
  return {
    origin: `http://127.0.0.1:${port}`,
    hangs: await connectHangs(port, 300),
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin!.end();
      }),
  };
}

export interface RawUpstream {
  readonly origin: string;
  readonly server: Server;
  /** Every connection accepted so far. */
  readonly sockets: Socket[];
  /** How many of them have closed. */
  closed(): number;
  close(): Promise<void>;
}

/**
 * A node:net server. With `answer`, it writes those bytes (then closes) once a request head has
 * arrived; without, it accepts and never writes a byte.
 */
export async function startRawUpstream(answer?: string): Promise<RawUpstream> {
  const sockets: Socket[] = [];
  let closed = 0;
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => closed++);
    if (answer === undefined) {
      // Read and drop whatever arrives, so that the peer's FIN is seen and the socket closes.
      socket.resume();
      return;
    }
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.end(answer);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    sockets,
    closed: () => closed,
    close: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
}

export interface FreezableRelay {
  /** 127.0.0.1 port that relays to the target. */
  readonly port: number;
  /**
   * Stops relaying, both ways, on every connection open or opened later: bytes are read and held, none
   * is delivered, no connection is closed. A server that froze (SIGSTOP, a stalled VM) or a network path
   * that went silent, seen from the client.
   */
  freeze(): void;
  /** Delivers what was held and relays again. */
  thaw(): void;
  close(): Promise<void>;
}

/** A TCP relay to `targetPort` on 127.0.0.1 that can be frozen (for a database that stops answering). */
export async function startFreezableRelay(targetPort: number): Promise<FreezableRelay> {
  let frozen = false;
  const held: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const pipe = (from: Socket, to: Socket): void => {
    from.on('data', (chunk: Buffer) => {
      if (frozen) held.push(() => to.write(chunk));
      else to.write(chunk);
    });
    from.on('end', () => (frozen ? held.push(() => to.end()) : to.end()));
  };
  const server = createServer((client) => {
    const target = connect(targetPort, '127.0.0.1');
    for (const s of [client, target]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.once('close', () => {
        sockets.delete(s);
        client.destroy();
        target.destroy();
      });
    }
    pipe(client, target);
    pipe(target, client);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    port: (server.address() as AddressInfo).port,
    freeze: () => {
      frozen = true;
    },
    thaw: () => {
      frozen = false;
      for (const deliver of held.splice(0)) deliver();
    },
    close: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
}
