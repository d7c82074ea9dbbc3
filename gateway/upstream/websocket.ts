// The http-proxy-3 adapter: relays an already-authorised WebSocket upgrade to the upstream with the
// headers the pipeline built. It makes no access decisions; the pipeline ran before it is called.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { createProxyServer } from 'http-proxy-3';

export interface WebSocketRelay {
  relay(
    req: IncomingMessage,
    socket: Socket,
    head: Buffer,
    origin: string,
    path: string,
    headers: readonly string[],
    onError: (err: Error) => void,
  ): void;
  close(): void;
}

export function createWebSocketRelay(): WebSocketRelay {
  // xfwd off: the pipeline already rebuilt X-Forwarded-*; http-proxy would append the client's.
  const proxy = createProxyServer({ ws: true, xfwd: false, prependPath: false });
  proxy.on('error', () => undefined);
  return {
    relay(req, socket, head, origin, path, headers, onError) {
      const outgoing: Record<string, string | string[]> = {};
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i]!.toLowerCase();
        const value = headers[i + 1]!;
        const prior = outgoing[name];
        outgoing[name] =
          prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
      }
      outgoing.connection = 'Upgrade';
      outgoing.upgrade = req.headers.upgrade ?? 'websocket';
      // http-proxy copies req.headers and req.url: replace them with the pipeline's decision.
      req.headers = outgoing;
      req.url = path;
      // A WebSocket peer that half-closes has left (RFC 6455 §7.1.1: TCP close follows the closing
      // handshake). The listener allows half-open sockets, so without this an upstream that ignores
      // the FIN would hold the tunnel, and the drain's in-flight count, open indefinitely.
      socket.once('end', () => socket.end());
      proxy.ws(req, socket, head, { target: origin }, (err) =>
        onError(err instanceof Error ? err : new Error(String(err))),
      );
    },
    close() {
      proxy.close();
    },
  };
}
