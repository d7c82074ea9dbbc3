// The bundled echo upstream for first runs and demos: answers every request with JSON describing
// what it received (method, path, headers, body size). Not for production traffic.
import { createServer, type Server } from 'node:http';

export function createEchoUpstream(): Server {
  return createServer((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on('end', () => {
      const body = JSON.stringify(
        { echo: { method: req.method, url: req.url, headers: req.headers, body_bytes: bytes } },
        null,
        2,
      );
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
}
