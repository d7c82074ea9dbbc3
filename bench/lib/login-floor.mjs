// The login floor: node:http and the gateway's own hashing threads (dist/gateway/auth/passwords.js, the
// same pool, thread count and priority), nothing else. `node login-floor.mjs PORT BODIES_FILE MEMORY_KIB
// ITERATIONS PARALLELISM`: hashes each password of BODIES_FILE (one JSON {email, password} per line) at
// start, then answers POST bodies like the gateway's login: the password verified against the stored
// hash, then a JSON answer of about the gateway's size (no limits, lock, session, record or signature).
// What the gateway's logins/s lose against this floor is its own per-login work; what the floor loses
// against the raw hash rate is Node's HTTP and the thread hand-offs.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const [port, bodiesFile, m, t, p] = process.argv.slice(2);
const { createPasswordHasher } = await import(
  pathToFileURL(join(ROOT, 'dist/gateway/auth/passwords.js')).href
);
const hasher = createPasswordHasher({ memory_kib: Number(m), iterations: Number(t), parallelism: Number(p) });

const users = readFileSync(bodiesFile, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => JSON.parse(line));
const stored = new Map();
await Promise.all(users.map(async (u) => stored.set(u.email, await hasher.hash(u.password))));

// The gateway's answers, in its envelope and of its size (719 bytes here: an access token, a refresh
// token, a device token), built once: the floor does no per-login work of its own.
const filler = (n) => 'x'.repeat(n);
const ACCEPTED = JSON.stringify({
  status: 'success',
  message: 'Login successful',
  data: {
    access: filler(416),
    refresh: filler(43),
    token_type: 'Bearer',
    expires_in: 900,
    device_token: filler(120),
  },
});
const REFUSED = JSON.stringify({
  status: 'error',
  code: 'invalid_credentials',
  message: 'Invalid email or password',
});

createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    let ok = false;
    try {
      const { email, password } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const hash = stored.get(email);
      ok = hash !== undefined && (await hasher.verify(hash, password));
    } catch {
      ok = false;
    }
    const body = ok ? ACCEPTED : REFUSED;
    res.writeHead(ok ? 200 : 401, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  });
}).listen(Number(port), '127.0.0.1');
