// The pino adapter: the only module that imports pino. It owns the one list of what must never
// be logged (tokens, passwords, cookies, Authorization), so redaction is configured in one place.
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
}

export function createLogger(options: LoggerOptions): Logger {
  const destination =
    options.destination ??
    pino.destination({ dest: 1, sync: false, minLength: options.level === 'debug' ? 0 : 4096 });
  const base = pino(
    {
      level: options.level,
      base: { pid: process.pid },
      redact: { paths: redactPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return base as unknown as Logger;
}
