// The one error type of the gateway and the table that gives each code its HTTP status and public message.
// A stage throws GatewayError(code); the renderer (gateway/http/reply.ts) turns it into the envelope.

import type { LimitState } from './state/limiter.js';

export const ERROR_TABLE = {
  bad_request: { status: 400, message: 'Bad request' },
  validation_failed: { status: 400, message: 'Validation failed' },
  invalid_json: { status: 400, message: 'Request body is not valid JSON' },
  bad_path: { status: 400, message: 'Request path is not allowed' },
  invalid_link: { status: 400, message: 'This link is invalid, expired or already used' },
  invalid_credentials: { status: 401, message: 'Invalid email or password' },
  missing_token: { status: 401, message: 'Authentication credentials were not provided' },
  invalid_token: { status: 401, message: 'Token is invalid' },
  token_expired: { status: 401, message: 'Token has expired' },
  token_revoked: { status: 401, message: 'Token has been revoked' },
  session_replaced: { status: 401, message: 'Session was replaced by a newer login' },
  device_mismatch: { status: 401, message: 'Token was issued for a different device/browser' },
  refresh_reused: { status: 401, message: 'Refresh token was already used; the session has been revoked' },
  invalid_code: { status: 401, message: 'The code is invalid or was already used' },
  invalid_challenge: { status: 401, message: 'The login challenge is invalid or expired; log in again' },
  forbidden: { status: 403, message: 'You do not have permission to access this resource' },
  email_not_verified: { status: 403, message: 'Email address is not verified' },
  password_reset_required: { status: 403, message: 'A password reset is required; check your email' },
  route_not_found: { status: 404, message: 'No route matches this request' },
  user_not_found: { status: 404, message: 'User not found' },
  not_found: { status: 404, message: 'Not found' },
  session_not_found: { status: 404, message: 'Session not found' },
  method_not_allowed: { status: 405, message: 'Method not allowed' },
  request_timeout: { status: 408, message: 'Request was not received in time' },
  email_taken: { status: 409, message: 'An account with this email already exists' },
  too_many_sessions: { status: 409, message: 'Maximum number of active sessions reached' },
  totp_already_enabled: { status: 409, message: 'Two-factor authentication is already enabled' },
  totp_not_enabled: { status: 409, message: 'Two-factor authentication is not enabled' },
  totp_not_pending: { status: 409, message: 'No two-factor enrollment is waiting for confirmation' },
  payload_too_large: { status: 413, message: 'Request body is too large' },
  unsupported_media_type: { status: 415, message: 'Content-Type must be application/json' },
  expectation_failed: { status: 417, message: 'Only the expectation 100-continue is supported' },
  misdirected_request: { status: 421, message: 'This listener does not answer for that host' },
  account_locked: { status: 429, message: 'Too many failed login attempts; try again later' },
  rate_limited: { status: 429, message: 'Too many requests' },
  headers_too_large: { status: 431, message: 'Request headers are too large' },
  internal_error: { status: 500, message: 'Internal server error' },
  audit_unwritten: { status: 500, message: 'The change was made, but its audit event could not be written' },
  upstream_unavailable: { status: 502, message: 'Upstream is unavailable' },
  state_unavailable: { status: 503, message: 'Session state store is unavailable' },
  users_unavailable: { status: 503, message: 'User store is unavailable; try again later' },
  shutting_down: { status: 503, message: 'Gateway is shutting down' },
  overloaded: { status: 503, message: 'Too many password checks are waiting; try again later' },
  mail_unavailable: { status: 503, message: 'Mail could not be sent; try again later' },
  upstream_timeout: { status: 504, message: 'Upstream did not answer in time' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_TABLE;

export interface GatewayErrorOptions {
  /** Public message replacing the table's (e.g. naming the invalid field). Never put secrets here. */
  message?: string;
  /** Logged, never sent. */
  cause?: unknown;
  /** Extra response headers (Allow, Retry-After, WWW-Authenticate...). */
  headers?: Readonly<Record<string, string>>;
  /** Close the connection after the reply (HTTP-level garbage, smuggling attempts). */
  close?: boolean;
  /**
   * A refusal by an endpoint's own limits (login, register, mail): the states it judged. Its headers are
   * then made from these and every limit the request met before (the global one), not from these alone.
   */
  limits?: readonly LimitState[];
}

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly close: boolean;
  readonly limits: readonly LimitState[] | undefined;

  constructor(code: ErrorCode, options: GatewayErrorOptions = {}) {
    super(
      options.message ?? ERROR_TABLE[code].message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERROR_TABLE[code].status;
    this.headers = options.headers;
    this.close = options.close ?? false;
    this.limits = options.limits;
  }
}

/** Whether a thrown value is a GatewayError with this code. */
export function isErrorCode(err: unknown, code: ErrorCode): err is GatewayError {
  return err instanceof GatewayError && err.code === code;
}

/** Any thrown value as a GatewayError; unknown errors become internal_error with the original as cause. */
export function toGatewayError(err: unknown): GatewayError {
  return err instanceof GatewayError ? err : new GatewayError('internal_error', { cause: err });
}
