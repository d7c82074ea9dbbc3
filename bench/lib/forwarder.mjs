// The minimal Node forwarder, the limit for a Node proxy: node:http in, undici Pool.stream out,
// keep-alive both sides. `node forwarder.mjs PORT UPSTREAM_ORIGIN [--contract-headers]`. No checks, no
// routing, no logs. With --contract-headers it also adds the header fields the gateway's contract puts on
// every exchange (X-Forwarded-For/-Proto/-Host and X-Request-Id upstream; X-Request-Id and the three
// RateLimit fields on the answer): what those fields alone cost, next to the gateway.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [port, origin, mode] = process.argv.slice(2);
const pool = new Pool(origin, { connections: 128, keepAliveTimeout: 4_000 });
// RFC 9110 §7.6.1: connection-specific fields are not forwarded.
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te']);

function strip(headers) {
  const out = {};
  for (const name in headers) if (!HOP.has(name)) out[name] = headers[name];
  return out;
}

function forward(req, res, upstreamHeaders, answerHeaders) {
  const hasBody =
    req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool
    .stream(
      { path: req.url, method: req.method, headers: upstreamHeaders, body: hasBody ? req : null },
      ({ statusCode, headers }) => {
        res.writeHead(statusCode, answerHeaders(strip(headers)));
        return res;
      },
    )
    .catch(() => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
}

const plain = (req, res) => forward(req, res, strip(req.headers), (headers) => headers);

let remaining = 1_000_000_000;
function withContractHeaders(req, res) {
  const id = randomUUID();
  const up = strip(req.headers);
  up['x-forwarded-for'] = req.socket.remoteAddress;
  up['x-forwarded-proto'] = 'http';
  up['x-forwarded-host'] = req.headers.host;
  up['x-request-id'] = id;
  forward(req, res, up, (headers) => {
    headers['x-request-id'] = id;
    headers['ratelimit-limit'] = '1000000000';
    headers['ratelimit-remaining'] = String(--remaining);
    headers['ratelimit-reset'] = '1';
    return headers;
  });
}

const server = createServer(mode === '--contract-headers' ? withContractHeaders : plain);
server.keepAliveTimeout = 65_000;
server.listen(Number(port), '127.0.0.1');
// A bench process has nothing to drain: exit at once (--cpu-prof still writes its profile).
process.on('SIGTERM', () => process.exit(0));
