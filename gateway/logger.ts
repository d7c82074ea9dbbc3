// The pino adapter: the only module that imports pino. It owns the one list of what must never
// be logged (tokens, passwords, cookies, Authorization), so redaction is configured in one place.
import { Writable } from 'node:stream';
import { pino } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Logger {
  fatal(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  trace(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
  isLevelEnabled(level: LogLevel): boolean;
  flush(cb?: (err?: Error) => void): void;
}

/** Keys whose values are secrets wherever they appear, one or two levels deep. */
export const REDACTED_KEYS = [
  'password',
  'password_confirm',
  'new_password',
  'current_password',
  'token',
  'access',
  'refresh',
  'device_token',
  'secret',
  'authorization',
  'cookie',
  'set-cookie',
  'dpop',
] as const;

const redactPaths = REDACTED_KEYS.flatMap((k) => {
  const key = /^[a-z_]+$/.test(k) ? k : `["${k}"]`;
  const dot = key.startsWith('[') ? '' : '.';
  return [key, `*${dot}${key}`, `*.*${dot}${key}`];
});

export interface LoggerOptions {
  level: LogLevel;
  format: 'json' | 'pretty';
  /** Where lines go; defaults to stdout. Tests pass a stream to read what was logged. */
  destination?: NodeJS.WritableStream;
  /**
   * An `err` is logged as one line (`Name: message (code)`), without its stack or cause: operator
   * commands print one line per failure, never a stack (README, "Command line").
   */
  stackless?: boolean;
}

/** `err` as one line of text; pino's own serializer would add the stack and the cause's. */
function oneLineError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  return `${err.name}: ${err.message}${code === undefined ? '' : ` (${String(code)})`}`;
}

/** `format: pretty`: one readable line per record for a terminal; JSON stays the default for machines. */
function prettyStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        const { time, level, msg, pid: _pid, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const fields = Object.entries(rest)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        out.write(
          `${String(time).slice(11, 23)} ${String(level).toUpperCase().padEnd(5)} ${String(msg ?? '')} ${fields}\n`,
        );
      }
      done();
    },
  });
}

export function createLogger(options: LoggerOptions): Logger {
  const destination =
    options.format === 'pretty'
      ? prettyStream(options.destination ?? process.stdout)
      : (options.destination ??
        pino.destination({ dest: 1, sync: false, minLength: options.level === 'debug' ? 0 : 4096 }));
  const base = pino(
    {
      level: options.level,
      base: { pid: process.pid },
      redact: { paths: redactPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      ...(options.stackless === true ? { serializers: { err: oneLineError } } : {}),
    },
    destination,
  );
  return base as unknown as Logger;
}
