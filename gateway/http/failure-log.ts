// How a listener logs a request that failed on the gateway's side, one rule for the main and admin
// listeners: a 503 (a store or the mail server did not answer) is an outage, a warn line with the
// cause's message; any other 5xx is a bug, an error line with the cause's stack. Below 500: no line here.
import type { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';

/** What an outage's cause says, without its stack. */
const causeOf = (err: GatewayError): string | undefined =>
  err.cause instanceof Error ? err.cause.message : err.cause === undefined ? undefined : String(err.cause);

/** Logs `err` under `msg` with `fields` (the request's reqId or path) and its code, if it is a 5xx. */
export function logFailure(
  log: Logger,
  err: GatewayError,
  fields: Record<string, unknown>,
  msg: string,
): void {
  // During an outage every request fails the same way: a stack per request would flood the log.
  if (err.status === 503) log.warn({ ...fields, code: err.code, cause: causeOf(err) }, msg);
  else if (err.status >= 500) log.error({ ...fields, code: err.code, err: err.cause ?? err }, msg);
}
