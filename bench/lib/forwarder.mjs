// The minimal Node forwarder, the limit for a Node proxy: node:http in, undici Pool.stream out,
// keep-alive both sides. `node forwarder.mjs PORT UPSTREAM_ORIGIN`. No checks, no routing, no logs.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [port, origin] = process.argv.slice(2);
const pool = new Pool(origin, { connections: 128, keepAliveTimeout: 4_000 });
// RFC 9110 §7.6.1: connection-specific fields are not forwarded.
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te']);

function strip(headers) {
  const out = {};
  for (const name in headers) if (!HOP.has(name)) out[name] = headers[name];
  return out;
}

const server = createServer((req, res) => {
  const hasBody =
    req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool
    .stream(
      { path: req.url, method: req.method, headers: strip(req.headers), body: hasBody ? req : null },
      ({ statusCode, headers }) => {
        res.writeHead(statusCode, strip(headers));
        return res;
      },
    )
    .catch(() => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(port), '127.0.0.1');
// A bench process has nothing to drain: exit at once (--cpu-prof still writes its profile).
process.on('SIGTERM', () => process.exit(0));
