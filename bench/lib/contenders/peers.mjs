// The peer stacks (express, fastify) as contenders: each runs as its own process on the bench's
// Redis, with tokens the bench mints itself (it plays their login service). The stacks live in ../peers/.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_UA } from '../accounts.mjs';
import { expectAcceptedToken, expectAuthChecks, spread } from '../check.mjs';
import { signHs256 } from '../jwt.mjs';
import { PEER_AUDIENCE, PEER_ISSUER, revokedKey, sessionKey } from '../peers/contract.mjs';
import { addCleanup, freePort, waitForPort } from '../processes.mjs';
import { redisClient } from '../redis.mjs';

const TOKEN_LIFE_S = 3 * 3600;
const hex = (bytes) => randomBytes(bytes).toString('hex');

/** A user with a live session: its token, and the Redis record that makes the session current. */
async function mintUser(accounts) {
  const sub = hex(16);
  const sid = randomBytes(16).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    sub,
    sid,
    jti: randomBytes(16).toString('base64url'),
    iss: PEER_ISSUER,
    aud: PEER_AUDIENCE,
    iat: now,
    exp: now + TOKEN_LIFE_S,
  };
  await accounts.redis.set(sessionKey(sub), sid, 'EX', TOKEN_LIFE_S);
  return { id: sub, jti: claims.jti, access: signHs256(claims, accounts.secret) };
}

/** The peers' users, made once per run and shared by every peer contender. */
function peerAccounts(ctx) {
  ctx.peerAccounts ??= (async () => {
    const redis = redisClient(ctx.redis.url);
    // disconnect, not quit: by clean-up time the bench's redis-server may already be stopped.
    addCleanup(() => redis.disconnect());
    const accounts = {
      redis,
      secret: randomBytes(32).toString('base64url'),
      tokenFile: join(ctx.tmpDir, 'peer-tokens.txt'),
    };
    accounts.users = [];
    for (let i = 0; i < ctx.opts.users; i++) accounts.users.push(await mintUser(accounts));
    writeFileSync(accounts.tokenFile, `${accounts.users.map((u) => u.access).join('\n')}\n`);
    return accounts;
  })();
  return ctx.peerAccounts;
}

/** A peer contender running `script` (a file in ../peers/) with PEER_MODE=`mode`. */
export function createPeerContender({ name, label, script, mode = 'tuned' }) {
  const file = fileURLToPath(new URL(`../peers/${script}`, import.meta.url));
  return {
    name,
    label,
    kind: 'proxy',
    unavailable: (ctx) => (ctx.redis ? null : (ctx.redisUnavailable ?? 'no Redis')),
    async start(ctx) {
      const accounts = await peerAccounts(ctx);
      const port = await freePort();
      const proc = ctx.spawnNode(name, file, [], {
        env: {
          PEER_PORT: String(port),
          PEER_UPSTREAM: ctx.target.origin,
          PEER_REDIS_URL: ctx.redis.url,
          PEER_JWT_SECRET: accounts.secret,
          PEER_MODE: mode,
        },
      });
      await waitForPort(port, proc);
      const origin = `http://127.0.0.1:${port}`;
      return {
        url: `${origin}/`,
        origin,
        pid: proc.pid,
        accounts,
        headers: {
          file: accounts.tokenFile,
          header: 'Authorization',
          prefix: 'Bearer ',
          userAgent: BENCH_UA,
        },
      };
    },
    async check(instance) {
      const { accounts } = instance;
      const [user] = accounts.users;
      await expectAuthChecks(instance.origin, {
        valid: { token: user.access, userId: user.id },
        sample: spread(accounts.users).map((u) => ({ token: u.access, userId: u.id })),
        async revoke() {
          const fresh = await mintUser(accounts);
          await expectAcceptedToken(instance.origin, fresh.access);
          await accounts.redis.set(revokedKey(fresh.jti), '1', 'EX', TOKEN_LIFE_S);
          return fresh.access;
        },
        async replace() {
          const fresh = await mintUser(accounts);
          await expectAcceptedToken(instance.origin, fresh.access);
          // A newer login of the same user: its session becomes the current one.
          const newer = randomBytes(16).toString('base64url');
          await accounts.redis.set(sessionKey(fresh.id), newer, 'EX', TOKEN_LIFE_S);
          return fresh.access;
        },
      });
    },
  };
}
