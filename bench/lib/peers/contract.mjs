// What the peer stacks and the bench agree on: token claims, Redis keys, the rate-limit window and
// the environment a peer process reads. Data only; the checks themselves live in each stack.

export const PEER_ISSUER = 'bench-login';
export const PEER_AUDIENCE = 'bench-api';

/** The user's one live session id (single active session: a newer login overwrites it). */
export const sessionKey = (sub) => `peer:session:${sub}`;
/** Present while that token id is revoked (logout), with the token's remaining life as TTL. */
export const revokedKey = (jti) => `peer:revoked:${jti}`;

/** Per-user limit, as Portcullis's bench configs: counted on every request, never reached. */
export const RATE_WINDOW_MS = 3_600_000;
export const RATE_LIMIT = 1_000_000_000;

/** The peer process's settings, from its environment. */
export function peerSettings(env = process.env) {
  const need = (key) => {
    const v = env[key];
    if (!v) throw new Error(`peer: ${key} is not set`);
    return v;
  };
  return {
    port: Number(need('PEER_PORT')),
    upstream: need('PEER_UPSTREAM'),
    redisUrl: need('PEER_REDIS_URL'),
    secret: need('PEER_JWT_SECRET'),
    mode: env.PEER_MODE ?? 'tuned',
  };
}
