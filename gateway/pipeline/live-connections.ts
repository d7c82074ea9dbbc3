// Registers authenticated long-lived connections (WebSocket upgrades, event streams) with live revocation,
// so they end when their session does. It makes no access decision: every check ran before it.
import type { LiveRevocation } from '../live-revocation.js';
import { watchWebSocket } from '../upstream/websocket-closer.js';
import type { RequestContext, Stage } from './context.js';

/** EventSource and SSE libraries ask for `text/event-stream`; plain requests are not worth tracking. */
const wantsEventStream = (accept: string | undefined): boolean =>
  accept?.includes('text/event-stream') === true;

export function createLiveConnections(live: LiveRevocation | undefined): Stage | null {
  if (live === undefined) return null;
  return function liveConnections(ctx: RequestContext): void {
    const claims = ctx.claims;
    const identity = ctx.identity;
    if (claims === null || identity === null) return;
    const route = ctx.match!.entry.config;
    const base = {
      userId: identity.userId,
      sid: identity.sessionId,
      jti: claims.jti,
      expiresAt: claims.exp * 1000,
      roles: route.roles,
    };
    const upgrade = ctx.upgrade;
    if (upgrade !== null) {
      if (!route.websocket) return;
      const closer = watchWebSocket(upgrade.socket);
      const untrack = live.track({ ...base, end: (code, reason) => closer.close(code, reason) });
      upgrade.socket.once('close', untrack);
      return;
    }
    if (!wantsEventStream(ctx.req.headers.accept)) return;
    const res = ctx.res;
    // Cutting the response aborts the upstream request too (forward's close handler): the stream ends.
    const untrack = live.track({ ...base, end: () => res.destroy() });
    res.once('close', untrack);
  };
}
