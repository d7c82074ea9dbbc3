// The fastify 5 stack a Node team would assemble instead of Portcullis: @fastify/http-proxy, and in
// an onRequest hook jsonwebtoken HS256 (KeyObject), revocation and single-session lookups in Redis,
// a Redis rate limit (rate-limit-redis's store, the same script as the express stack) and X-User-Id.
import { createSecretKey } from 'node:crypto';
import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import jwt from 'jsonwebtoken';
import { RedisStore } from 'rate-limit-redis';
import {
  PEER_AUDIENCE,
  PEER_ISSUER,
  peerSettings,
  RATE_LIMIT,
  RATE_WINDOW_MS,
  revokedKey,
  sessionKey,
} from './contract.mjs';

const settings = peerSettings();
const redis = new Redis(settings.redisUrl);
const key = createSecretKey(Buffer.from(settings.secret));
const verifyOptions = { algorithms: ['HS256'], issuer: PEER_ISSUER, audience: PEER_AUDIENCE };
const limits = new RedisStore({
  prefix: 'peer-fastify:',
  sendCommand: (command, ...args) => redis.call(command, ...args),
});
await limits.init({ windowMs: RATE_WINDOW_MS });

const app = Fastify({ logger: false });

function deny(reply, status, code) {
  reply.code(status).send({ status: 'failed', code });
  return reply;
}

app.addHook('onRequest', async (request, reply) => {
  const header = request.headers.authorization;
  if (!header?.startsWith('Bearer ')) return deny(reply, 401, 'missing_token');
  let claims;
  try {
    claims = jwt.verify(header.slice(7), key, verifyOptions);
  } catch {
    return deny(reply, 401, 'invalid_token');
  }
  if (await redis.exists(revokedKey(claims.jti))) return deny(reply, 401, 'token_revoked');
  if ((await redis.get(sessionKey(claims.sub))) !== claims.sid) return deny(reply, 401, 'session_replaced');
  const { totalHits, resetTime } = await limits.increment(claims.sub);
  const remaining = Math.max(0, RATE_LIMIT - totalHits);
  reply.headers({
    'ratelimit-limit': RATE_LIMIT,
    'ratelimit-remaining': remaining,
    'ratelimit-reset': Math.max(0, Math.ceil((resetTime.getTime() - Date.now()) / 1000)),
  });
  if (totalHits > RATE_LIMIT) return deny(reply, 429, 'rate_limited');
  request.user = claims;
});

await app.register(proxy, {
  upstream: settings.upstream,
  replyOptions: {
    // Identity headers are ours: the client's copy is replaced, its token not forwarded.
    rewriteRequestHeaders: (request, headers) => {
      const { authorization: _token, 'x-user-id': _spoofed, ...rest } = headers;
      return { ...rest, 'x-user-id': request.user.sub };
    },
  },
});
await app.listen({ port: settings.port, host: '127.0.0.1' });
// A bench process has nothing to drain: exit at once (--cpu-prof still writes its profile).
process.on('SIGTERM', () => process.exit(0));
