// Registers long-lived connections (WebSocket tunnels, event streams) once every check let them through:
// with live revocation, so they end with their session, and for the reload check, which ends those the
// config in force would not open. It makes no access decision for new requests.
import { GatewayError } from '../errors.js';
import { CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED, type LiveRevocation } from '../live-revocation.js';
import type { Logger } from '../logger.js';
import type { ParsedTarget } from '../routing/canonical-path.js';
import type { CompiledRoute, RuntimeState } from '../runtime.js';
import { watchWebSocket } from '../upstream/websocket-closer.js';
import { tokenError } from './authenticate.js';
import type { RequestContext, Stage } from './context.js';

export interface OpenConnections {
  /** Registers the request's connection when it is a WebSocket upgrade or an event stream. */
  track(ctx: RequestContext): void;
  /**
   * `state` is now in force (a reload's commit): ends each open connection it would not open, and keeps
   * the others under the route that takes them now.
   */
  recheck(state: RuntimeState): void;
}

/** EventSource and SSE libraries ask for `text/event-stream`; plain requests are not worth tracking. */
const wantsEventStream = (accept: string | undefined): boolean =>
  accept?.includes('text/event-stream') === true;

/** What a connection was opened on: enough to match and judge it again under another config. */
interface Opened {
  readonly host: string;
  readonly method: string;
  readonly target: ParsedTarget;
  readonly upgrade: boolean;
  /** A verified token was presented (the session's roles are live revocation's to check). */
  readonly authenticated: boolean;
  /** The route that takes it under the config in force. */
  readonly route: CompiledRoute;
}

interface Open extends Opened {
  route: CompiledRoute;
  /** Ends it: a close frame with `code` for a WebSocket, the end of the stream for SSE. */
  readonly end: (code: number, reason: string) => void;
  /** Unregisters it from live revocation (a no-op for an anonymous one). */
  untrack: () => void;
}

/** Why a config refuses an open connection: the close code, and the error a new request would get. */
type Refusal = { readonly close: number; readonly code: 'missing_token' | 'forbidden' };
const FORBIDDEN: Refusal = { close: CLOSE_FORBIDDEN, code: 'forbidden' };
const MISSING_TOKEN: Refusal = { close: CLOSE_UNAUTHORIZED, code: 'missing_token' };

/**
 * The route that would take `open` under `state` and admit it, or why not. It must be the route it was
 * opened on (by name: a request now matched elsewhere, or nowhere, was set up for a route that is gone),
 * still take WebSockets for a tunnel, and admit an anonymous caller. `roles` are the session's current
 * ones when known (a request just checked); for an open connection (null) live revocation asks the state
 * store for them and compares them with the roles of the route this returns.
 */
function judge(state: RuntimeState, open: Opened, roles: readonly string[] | null): CompiledRoute | Refusal {
  let route: CompiledRoute;
  try {
    route = state.router.match(open.host, open.method, open.target).entry;
  } catch {
    return FORBIDDEN;
  }
  if (route.config.name !== open.route.config.name || route.endpoint !== undefined) return FORBIDDEN;
  if (open.upgrade && !route.config.websocket) return FORBIDDEN;
  if (!open.authenticated && (route.config.auth === 'required' || route.config.roles.length > 0))
    return MISSING_TOKEN;
  const required = route.config.roles;
  if (roles !== null && required.length > 0 && !roles.some((r) => required.includes(r))) return FORBIDDEN;
  return route;
}

const isRefusal = (verdict: CompiledRoute | Refusal): verdict is Refusal => 'close' in verdict;

export function createOpenConnections(live: LiveRevocation, log: Logger): OpenConnections {
  const all = new Set<Open>();
  /** The config the last recheck applied: a request checked against an older one missed that recheck. */
  let latest: RuntimeState | null = null;

  return {
    track(ctx) {
      const upgrade = ctx.upgrade;
      if (upgrade !== null ? !ctx.match!.entry.config.websocket : !wantsEventStream(ctx.req.headers.accept))
        return;
      const claims = ctx.claims;
      const identity = ctx.identity;
      const opened: Opened = {
        host: ctx.host,
        method: ctx.req.method ?? 'GET',
        target: ctx.target!,
        upgrade: upgrade !== null,
        authenticated: claims !== null,
        route: ctx.match!.entry,
      };
      let route = opened.route;
      // Checked against a config that a reload replaced while its checks ran: that reload's recheck did not
      // see it, so it is judged here, before anything is forwarded, as a request under the new config.
      if (latest !== null && latest.generation > ctx.state.generation) {
        const verdict = judge(latest, opened, identity?.roles ?? []);
        if (isRefusal(verdict))
          throw verdict.code === 'missing_token' ? tokenError(verdict.code) : new GatewayError(verdict.code);
        route = verdict;
      }
      let end: Open['end'];
      if (upgrade !== null) {
        const closer = watchWebSocket(upgrade.socket);
        end = (code, reason) => closer.close(code, reason);
      } else {
        const res = ctx.res;
        // Cutting the response aborts the upstream request too (forward's close handler): the stream ends.
        end = () => res.destroy();
      }
      const open: Open = { ...opened, route, end, untrack: () => undefined };
      if (claims !== null && identity !== null) {
        open.untrack = live.track({
          userId: identity.userId,
          sid: identity.sessionId,
          jti: claims.jti,
          expiresAt: claims.exp * 1000,
          // Read at each check: a reload that changes the route's roles applies to this connection too.
          get roles() {
            return open.route.config.roles;
          },
          end,
        });
      }
      all.add(open);
      const forget = (): void => {
        all.delete(open);
        open.untrack();
      };
      if (upgrade !== null) upgrade.socket.once('close', forget);
      else ctx.res.once('close', forget);
    },

    recheck(state) {
      latest = state;
      let ended = 0;
      let rolesToCheck = false;
      for (const open of [...all]) {
        const verdict = judge(state, open, null);
        if (!isRefusal(verdict)) {
          open.route = verdict;
          if (open.authenticated && verdict.config.roles.length > 0) rolesToCheck = true;
          continue;
        }
        all.delete(open);
        open.untrack();
        open.end(verdict.close, verdict.code);
        ended++;
      }
      if (ended > 0)
        log.info(
          { generation: state.generation, ended },
          'config reload: ended the open connections the new config would refuse',
        );
      // The sessions' current roles against the routes' new ones (one state-store round trip).
      if (rolesToCheck) void live.sweep();
    },
  };
}

/** The pipeline stage; right before forwarding, so only connections that passed every check are tracked. */
export function createLiveConnections(connections: OpenConnections | undefined): Stage | null {
  if (connections === undefined) return null;
  return function liveConnections(ctx: RequestContext): void {
    connections.track(ctx);
  };
}
