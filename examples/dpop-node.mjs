#!/usr/bin/env node
// A Node client of a Portcullis gateway in DPoP mode (device_binding.mode: dpop): logs in with a proof,
// calls a route with `Authorization: DPoP` and a fresh proof, refreshes, calls again, logs out.
// It uses clients/dpop.js, the same helper browsers use (WebCrypto and fetch are built into Node 20+).
//
// Usage: node examples/dpop-node.mjs --gateway http://127.0.0.1:8080 --email ada@example.com \
//                                    --password 'correct horse battery staple' --path /api/orders/1
// Prints one JSON line per step; exits 0 when every step succeeded.
import { parseArgs } from 'node:util';
import { createDpopClient } from '../clients/dpop.js';

const { values } = parseArgs({
  options: {
    gateway: { type: 'string' },
    email: { type: 'string' },
    password: { type: 'string' },
    path: { type: 'string', default: '/' },
  },
});
if (!values.gateway || !values.email || !values.password) {
  process.stderr.write('usage: node dpop-node.mjs --gateway URL --email E --password P [--path /route]\n');
  process.exit(2);
}

const step = (name, data) => process.stdout.write(`${JSON.stringify({ step: name, ...data })}\n`);
// In a long-running service, keep one client (one key) for the process: every token is bound to it.
const client = await createDpopClient({ gateway: values.gateway });
try {
  const login = await client.login(values.email, values.password);
  step('login', { token_type: login.token_type, jkt: client.thumbprint });
  const first = await client.fetch(values.path);
  step('request', { status: first.status, body: await first.json().catch(() => null) });
  const refreshed = await client.refresh();
  step('refresh', { token_type: refreshed.token_type });
  const second = await client.fetch(values.path);
  step('request', { status: second.status });
  const out = await client.logout();
  step('logout', { status: out.status });
  process.exitCode = first.ok && second.ok && out.ok ? 0 : 1;
} catch (err) {
  step('failed', { message: err.message, status: err.status, code: err.code });
  process.exitCode = 1;
}
