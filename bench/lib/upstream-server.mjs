// The benchmark's Node upstream, run as its own process: `node upstream-server.mjs PORT`.
// It answers every request with the same ~100 bytes of JSON over keep-alive, except IDENTITY_PATH,
// which echoes the X-User-Id it received (for the correctness checks). No other routing.
import { createServer } from 'node:http';
import { IDENTITY_PATH, PAYLOAD } from './payload.mjs';

const body = Buffer.from(PAYLOAD);
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };

const server = createServer((req, res) => {
  // Drain any request body so the connection stays reusable.
  req.resume();
  if (req.url === IDENTITY_PATH) {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(req.headers['x-user-id'] ?? '');
    return;
  }
  res.writeHead(200, headers);
  res.end(body);
});
// Longer than any proxy's pool idle timeout, so the proxies, not we, close idle sockets.
server.keepAliveTimeout = 65_000;
server.listen(Number(process.argv[2]), '127.0.0.1');
// A bench process has nothing to drain: exit at once (--cpu-prof still writes its profile).
process.on('SIGTERM', () => process.exit(0));
