// The WebSocket relay, loaded on first use: http-proxy-3 and what it pulls in cost ≈5 MB of memory
// that a gateway without WebSocket routes never needs. A config with such routes loads it up front.
import type { WebSocketRelay } from './websocket.js';

export interface LazyWebSocketRelay extends WebSocketRelay {
  /** Starts loading the relay now (a config with WebSocket routes), so no upgrade waits for it. */
  preload(): void;
}

export function lazyWebSocketRelay(): LazyWebSocketRelay {
  let relay: WebSocketRelay | null = null;
  let loading: Promise<WebSocketRelay> | null = null;
  let closed = false;

  const load = (): Promise<WebSocketRelay> => {
    loading ??= import('./websocket.js').then((m) => {
      relay = m.createWebSocketRelay();
      if (closed) relay.close();
      return relay;
    });
    return loading;
  };

  return {
    preload() {
      // A failure to load surfaces on the first upgrade, through its onFailure (502).
      load().catch(() => undefined);
    },
    relay(call) {
      if (relay !== null) {
        relay.relay(call);
        return;
      }
      load().then(
        (r) => r.relay(call),
        (err: unknown) => call.onFailure('failed', err instanceof Error ? err : new Error(String(err))),
      );
    },
    close() {
      closed = true;
      relay?.close();
    },
  };
}
