// What the operator commands (user, audit, explain) write when one fails, and the exit status: one line,
// never a stack. Exit 2 is the caller's input (a bad argument, a value refused), exit 1 anything else.
import { EXIT_USAGE } from '../config/cli-args.js';
import { GatewayError } from './errors.js';

export { EXIT_USAGE };

export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;

/** Writes `portcullis LABEL: code: message`; validation_failed exits 2 like a bad argument, the rest 1. */
export function failure(io: Pick<CliIo, 'stderr'>, label: string, err: unknown): number {
  const message =
    err instanceof GatewayError
      ? `${err.code}: ${err.message}`
      : err instanceof Error
        ? err.message
        : String(err);
  io.stderr.write(`portcullis ${label}: ${message}\n`);
  return err instanceof GatewayError && err.code === 'validation_failed' ? EXIT_USAGE : EXIT_FAILED;
}
