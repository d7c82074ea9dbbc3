// The stack a Node team would assemble instead of Portcullis, on express 5: jsonwebtoken HS256,
// revocation and single-session lookups in Redis, express-rate-limit on rate-limit-redis, X-User-Id
// injected, http-proxy-middleware. PEER_MODE=tuned gives the proxy a keep-alive agent and jsonwebtoken
// a KeyObject; PEER_MODE=readme is configured as the READMEs show (no agent: a new upstream
// connection per request; the secret as a string, which jsonwebtoken re-parses on every verify).
import { createSecretKey } from 'node:crypto';
import { Agent } from 'node:http';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import { createProxyMiddleware } from 'http-proxy-middleware';
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
const tuned = settings.mode === 'tuned';
const redis = new Redis(settings.redisUrl);
const key = tuned ? createSecretKey(Buffer.from(settings.secret)) : settings.secret;
const verifyOptions = { algorithms: ['HS256'], issuer: PEER_ISSUER, audience: PEER_AUDIENCE };

const deny = (res, code) => res.status(401).json({ status: 'failed', code });

async function authenticate(req, res, next) {
  const header = req.headers.authorization;
  if (!header?.startsWith('Bearer ')) return deny(res, 'missing_token');
  let claims;
  try {
    claims = jwt.verify(header.slice(7), key, verifyOptions);
  } catch {
    return deny(res, 'invalid_token');
  }
  if (await redis.exists(revokedKey(claims.jti))) return deny(res, 'token_revoked');
  if ((await redis.get(sessionKey(claims.sub))) !== claims.sid) return deny(res, 'session_replaced');
  req.user = claims;
  // Identity headers are ours: the client's copy is overwritten, its token not forwarded.
  req.headers['x-user-id'] = claims.sub;
  delete req.headers.authorization;
  next();
}

const app = express();
app.use(authenticate);
app.use(
  rateLimit({
    windowMs: RATE_WINDOW_MS,
    limit: RATE_LIMIT,
    standardHeaders: 'draft-6',
    legacyHeaders: false,
    keyGenerator: (req) => req.user.sub,
    store: new RedisStore({
      prefix: `peer-express-${settings.mode}:`,
      sendCommand: (command, ...args) => redis.call(command, ...args),
    }),
  }),
);
// Tuned: a client gone before its answer ends the upstream request too. Without this, http-proxy keeps
// the upstream response of a client that disconnected unread, and its socket never returns to the
// agent: with the keep-alive agent's 128 sockets, five 1 s wrk runs left the stack answering nothing
// at all (bench/README.md, "The express stack's hang"). A team would add it the day it hangs in production.
// The READMEs' configuration has no agent (no socket limit), so it leaks without hanging, as shown.
function endWithClient(proxyReq, _req, res) {
  if (res.destroyed) proxyReq.destroy();
  else res.on('close', () => res.writableFinished || proxyReq.destroy());
}

app.use(
  createProxyMiddleware({
    target: settings.upstream,
    ...(tuned
      ? { agent: new Agent({ keepAlive: true, maxSockets: 128 }), on: { proxyReq: endWithClient } }
      : {}),
  }),
);
app.listen(settings.port, '127.0.0.1');
// A bench process has nothing to drain: exit at once (--cpu-prof still writes its profile).
process.on('SIGTERM', () => process.exit(0));
