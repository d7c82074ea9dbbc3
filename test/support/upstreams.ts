// Real upstream servers for integration tests: a Node server that records every request it
// receives and answers per path, and a Python http.server so a non-Node upstream is exercised too.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
}

export interface RecordingUpstream {
  readonly origin: string;
  readonly port: number;
  readonly requests: Recorded[];
  readonly server: Server;
  close(): Promise<void>;
}

/**
 * Custom handlers get the raw req/res (for slow, streaming or broken answers). The default answer is
 * JSON `{method, url, headers}` of what arrived. The body is recorded only for default answers.
 */
export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse) => boolean | undefined;

export async function startRecordingUpstream(
  handler?: UpstreamHandler,
  host = '127.0.0.1',
): Promise<RecordingUpstream> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    if (handler?.(req, res) === true) return;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      });
      const json = JSON.stringify({
        method: req.method,
        url: req.url,
        headers: req.headers,
        bytes: body.length,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
      res.end(json);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://${host}:${port}`,
    port,
    requests,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface PythonUpstream {
  readonly origin: string;
  /** Requests as the Python server saw them: [{method, path, headers: [[name, value], ...], body_len}] */
  requests(): Promise<Array<{ method: string; path: string; headers: [string, string][]; body_len: number }>>;
  close(): Promise<void>;
}

/**
 * Runs one of the Python scripts next to this file (`python3 NAME`), which prints `PORT <n>` once it
 * listens: the child and that port.
 */
export async function spawnPythonServer(
  name: string,
  stdin: 'ignore' | 'pipe',
): Promise<{ child: ChildProcess; port: number }> {
  const script = fileURLToPath(new URL(`./${name}`, import.meta.url));
  const child: ChildProcess = spawn('python3', [script], { stdio: [stdin, 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const m = /PORT (\d+)/.exec(buffered);
      if (m) resolve(Number(m[1]));
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
  return { child, port };
}

export async function startPythonUpstream(): Promise<PythonUpstream> {
  const { child, port } = await spawnPythonServer('python_upstream.py', 'ignore');
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    async requests() {
      const res = await fetch(`${origin}/__requests`);
      return (await res.json()) as Awaited<ReturnType<PythonUpstream['requests']>>;
    },
    close: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export interface TickingStream {
  readonly origin: string;
  close(): Promise<void>;
}

/** An upstream answering every request with a server-sent event stream of `data: tick` every 50 ms. */
export async function startTickingStream(): Promise<TickingStream> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    const tick = setInterval(() => res.write('data: tick\n\n'), 50);
    res.on('close', () => clearInterval(tick));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
