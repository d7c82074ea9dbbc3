// What can go wrong talking to an upstream, in the terms the forward stage acts on, shared by the HTTP
// and WebSocket adapters. It imports no library: each adapter translates its own library's errors.

/**
 * `connect`: refused or unreachable (nothing was sent); `connect_timeout`: no connection within
 * CONNECT_TIMEOUT_MS (nothing was sent); `timeout`: no answer head within the route timeout, or a silence
 * inside a streamed body; `aborted`: we aborted it (the client left); `failed`: anything else.
 */
export type UpstreamFailure = 'connect' | 'connect_timeout' | 'timeout' | 'aborted' | 'failed';

/**
 * How long a TCP (and TLS) connect to a target may take (ms). A target that cannot be connected to in
 * this time is unreachable: it is marked down like one that refuses. A shorter route timeout still answers
 * the client first (504); the connect attempt then goes on in the background only to judge the target.
 */
export const CONNECT_TIMEOUT_MS = 5_000;

/** node:net / node:dns errno codes meaning that no connection was made. */
export const CONNECT_ERRNO: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Nothing reached the target: it is down for passive health, and a bodiless request may try another. */
export const isConnectFailure = (kind: UpstreamFailure): boolean =>
  kind === 'connect' || kind === 'connect_timeout';

/** The route timeout ran out (before the answer head or inside the body), or the connect did. */
export const isTimeout = (kind: UpstreamFailure): boolean => kind === 'timeout' || kind === 'connect_timeout';
