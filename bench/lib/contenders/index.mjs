// The list of contenders, in table order. A contender is data:
//   { name, label, kind: 'direct' | 'proxy',
//     unavailable(ctx) → null | reason (may be async),
//     start(ctx) → { url, pid, headers?: { file, header, prefix, userAgent } (a value per request),
//       loadWindow?(load, ctx) → { headers, done(result) } (one-use requests made before each window) },
//     prepare?(instance, ctx) → async set-up run side by side for all contenders (users, tokens),
//     check(instance, ctx) → throws if wrong, extra?(opts) → true when left out unless --all / --only,
//     wrkLua?: custom Lua run before wrk's report script, instead of `headers` (wrk only) }
// start() may throw ContenderUnavailable (./unavailable.mjs) to be skipped with a reason.
// Add a contender by writing a module beside this one and listing it here; nothing else changes.
import { createDirectContender } from './direct.mjs';
import { forwarderContender, forwarderHeadersContender } from './forwarder.mjs';
import { nginxProxyContender } from './nginx-proxy.mjs';
import { createPeerContender } from './peers.mjs';
import { createPortcullisContender } from './portcullis.mjs';
import { createDpopContender } from './portcullis-dpop.mjs';

const redisState = (ctx) => ({ storage: { state: ctx.redis.url } });

export const CONTENDERS = [
  createDirectContender('node'),
  createDirectContender('nginx'),
  nginxProxyContender,
  forwarderContender,
  forwarderHeadersContender,
  createPortcullisContender({ name: 'portcullis-public', label: 'Portcullis, public route (no auth)' }),
  createPortcullisContender({
    name: 'portcullis-memory',
    label: 'Portcullis, authenticated, memory state store, SQLite users',
    auth: true,
  }),
  createDpopContender({
    name: 'portcullis-dpop',
    label:
      'Portcullis, authenticated, memory state store, SQLite users, device_binding.mode: dpop (a fresh proof per request)',
  }),
  createPortcullisContender({
    name: 'portcullis-redis',
    label: 'Portcullis, authenticated, Redis state store, SQLite users',
    auth: true,
    needs: ['redis'],
    overrides: redisState,
  }),
  createPortcullisContender({
    name: 'portcullis-redis-2w',
    label: 'Portcullis, authenticated, Redis state store, PostgreSQL users, server.workers: 2',
    auth: true,
    needs: ['redis', 'postgres'],
    overrides: (ctx) => ({ ...redisState(ctx), server: { workers: 2 } }),
  }),
  createPeerContender({
    name: 'fastify',
    label:
      'fastify 5 + @fastify/http-proxy, checks in an onRequest hook (jsonwebtoken, Redis lookups, rate-limit-redis)',
    script: 'fastify-stack.mjs',
  }),
  createPeerContender({
    name: 'express',
    label:
      'express 5 + http-proxy-middleware (keep-alive agent) + jsonwebtoken (KeyObject) + Redis lookups + express-rate-limit/rate-limit-redis',
    script: 'express-stack.mjs',
    mode: 'tuned',
  }),
  createPeerContender({
    name: 'express-readme',
    label:
      'the same express stack as its READMEs show: no agent (new upstream connection per request), string secret',
    script: 'express-stack.mjs',
    mode: 'readme',
  }),
];
