// Clients for the integration tests: raw bytes over node:net (so nothing tidies a hostile request),
// a plain node:http client, and the built gateway run as a child process for signals and RSS.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'dist', 'gateway', 'cli.js');

export interface RawResponse {
  readonly status: number;
  /** Lower-case names; repeated headers joined with ', '. */
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  readonly head: string;
}

export interface RawExchange {
  readonly socket: Socket;
  /** The first complete response on the connection (Content-Length or close-delimited). */
  readonly response: Promise<RawResponse>;
  /** Resolves true when the server closes the connection within `ms`, else false. */
  closed(ms?: number): Promise<boolean>;
}

function parseHead(head: string): { status: number; headers: Record<string, string> } {
  const lines = head.split('\r\n');
  const status = Number(lines[0]!.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status, headers };
}

/** Writes `data` as is on a fresh connection (optionally from `localAddress`) and reads one response. */
export function rawExchange(
  port: number,
  data: string | Buffer | null,
  options: { localAddress?: string; host?: string } = {},
): RawExchange {
  const socket = connect({ port, host: options.host ?? '127.0.0.1', localAddress: options.localAddress });
  let ended = false;
  const endWaiters: Array<() => void> = [];
  socket.on('close', () => {
    ended = true;
    for (const w of endWaiters.splice(0)) w();
  });
  socket.on('error', () => undefined);
  if (data !== null) socket.write(data);
  const response = new Promise<RawResponse>((done, fail) => {
    let buffered = Buffer.alloc(0);
    const tryParse = (final: boolean): boolean => {
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return false;
      const head = buffered.subarray(0, end).toString('latin1');
      const { status, headers } = parseHead(head);
      const rest = buffered.subarray(end + 4);
      // Interim answers (100 Continue) precede the response this exchange is about.
      if (status >= 100 && status < 200 && status !== 101) {
        buffered = rest;
        return tryParse(final);
      }
      const length = headers['content-length'];
      if (length !== undefined && rest.length >= Number(length)) {
        done({ status, headers, head, body: rest.subarray(0, Number(length)) });
        return true;
      }
      if (length === undefined && final) {
        done({ status, headers, head, body: rest });
        return true;
      }
      return false;
    };
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      tryParse(false);
    });
    socket.on('close', () => {
      if (!tryParse(true)) fail(new Error(`connection closed without a response: ${buffered.toString()}`));
    });
  });
  response.catch(() => undefined);
  return {
    socket,
    response,
    closed: (ms = 2_000) =>
      new Promise<boolean>((done) => {
        if (ended) return done(true);
        const timer = setTimeout(() => done(false), ms);
        endWaiters.push(() => {
          clearTimeout(timer);
          done(true);
        });
      }),
  };
}

export interface HttpResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface HttpOptions {
  readonly method?: string;
  readonly headers?: Record<string, string | string[]>;
  readonly body?: string | Buffer;
  readonly localAddress?: string;
}

/** One request on a fresh connection (no agent, so no pooled socket leaks between tests). */
export function http(url: string, options: HttpOptions = {}): Promise<HttpResult> {
  return new Promise((done, fail) => {
    // node:http sends a GET/DELETE/OPTIONS body without any framing unless told its length.
    const headers =
      options.body === undefined
        ? options.headers
        : { 'content-length': String(Buffer.byteLength(options.body)), ...options.headers };
    const req = httpRequest(
      url,
      {
        method: options.method ?? 'GET',
        headers,
        agent: false,
        localAddress: options.localAddress,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          done({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end(options.body);
  });
}

export interface Envelope {
  readonly status: string;
  readonly message: string;
  readonly code?: string;
}

/** Asserts the gateway's error envelope with `code` and returns it. */
export function expectEnvelope(
  res: { status: number; body: Buffer; headers: Record<string, string | string[] | undefined> },
  status: number,
  code: string,
): Envelope {
  expect(res.status).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
  const body = JSON.parse(res.body.toString()) as Envelope;
  expect(body).toEqual({ status: 'failed', message: expect.any(String), code });
  return body;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** Polls `check` until it returns true or `ms` passes. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  ms = 5_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export interface ChildGateway {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly adminPort: number;
  readonly url: string;
  readonly dir: string;
  readonly configFile: string;
  /** Every JSON line the child wrote to stdout so far. */
  readonly logs: Array<Record<string, unknown>>;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    ms?: number,
  ): Promise<Record<string, unknown>>;
  /** Peak resident set size so far (VmHWM), in bytes. */
  peakRss(): number;
  stop(): Promise<number | null>;
}

/**
 * Two replicas of one config, each in a folder of its own under `dir` (`a`, `b`), started one after
 * the other: each migrates the shared store and, with SQLite, keeps its assertion key beside it.
 */
export async function startReplicas(dir: string, yaml: string): Promise<[ChildGateway, ChildGateway]> {
  const replica = (name: string): Promise<ChildGateway> => {
    const cwd = join(dir, name);
    mkdirSync(cwd);
    return startChildGateway({ cwd, yaml });
  };
  const a = await replica('a');
  return [a, await replica('b')];
}

/**
 * Runs `node dist/gateway/cli.js start` (with `--config` when `configFile` is given) in `cwd` and
 * waits for its "gateway listening" line.
 */
export async function startChildGateway(options: {
  /** The config text, or a function of the temp dir it is written to (for paths inside it). */
  yaml?: string | ((dir: string) => string);
  cwd?: string;
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
}): Promise<ChildGateway> {
  const dir = options.cwd ?? mkdtempSync(join(tmpdir(), 'portcullis-child-'));
  const configFile = join(dir, 'gateway.yaml');
  const yaml = typeof options.yaml === 'function' ? options.yaml(dir) : options.yaml;
  if (yaml !== undefined) writeFileSync(configFile, yaml);
  const args = options.args ?? ['start', '--config', configFile];
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  let partial = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    partial += chunk.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
    for (const w of waiters.splice(0)) w();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const waitForLog = (match: (line: Record<string, unknown>) => boolean, ms = 5_000) =>
    new Promise<Record<string, unknown>>((done, fail) => {
      const timer = setTimeout(
        () =>
          fail(
            new Error(`no matching log line in ${ms}ms; stdout: ${JSON.stringify(logs)} stderr: ${stderr}`),
          ),
        ms,
      );
      const check = (): void => {
        const found = logs.find(match);
        if (found !== undefined) {
          clearTimeout(timer);
          done(found);
        } else waiters.push(check);
      };
      check();
      void exited.then(() => {
        clearTimeout(timer);
        fail(new Error(`gateway exited; stdout: ${JSON.stringify(logs)} stderr: ${stderr}`));
      });
    });
  const listening = await waitForLog((l) => l.msg === 'gateway listening', 10_000);
  const port = Number(listening.port);
  return {
    child,
    pid: child.pid!,
    port,
    adminPort: Number(listening.adminPort),
    url: `http://127.0.0.1:${port}`,
    dir,
    configFile,
    logs,
    stderr: () => stderr,
    exited,
    waitForLog,
    peakRss() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kb = /VmHWM:\s+(\d+) kB/.exec(status);
      if (kb === null) throw new Error('no VmHWM in /proc status');
      return Number(kb[1]) * 1024;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Where and how `runCliWith` runs the CLI. */
export interface CliRun {
  /** Working folder (default: the test's). */
  readonly cwd?: string;
  /** Written to stdin, then closed (default: no stdin); bytes as they are (a Buffer need not be UTF-8). */
  readonly input?: string | Buffer;
  /** Killed after this long (code null); default 25 s. */
  readonly timeoutMs?: number;
}

/**
 * Runs `portcullis …` (the built CLI) to completion, as an operator would, and collects its output. A
 * command still running after 25 s is killed (code null): a test of a hang fails instead of leaving it.
 */
export function runCli(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return runCliWith({}, ...args);
}

export function runCliWith(
  options: CliRun,
  ...args: string[]
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 25_000,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

/** The top of a child gateway's YAML: loopback, port 0, a temp SQLite file, memory state. */
export function childBaseYaml(dir: string, logLevel = 'info'): string {
  return `
server: { host: 127.0.0.1, port: 0, shutdown_timeout: 10s }
admin: { host: 127.0.0.1, port: 0, token: admin-token-for-tests-0123456789abcdef }
storage: { users: "sqlite:${join(dir, 'users.db')}", state: memory }
tokens: { secret: "test-secret-that-is-at-least-32-bytes-long!!" }
logging: { level: ${logLevel} }
`;
}
