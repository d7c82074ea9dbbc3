// The per-request state that stages read and fill in, and the Stage contract every stage obeys.
// It holds no behaviour: stages live in their own files and are ordered in pipeline/index.ts.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AccessClaims } from '../auth/tokens.js';
import type { GatewayResponse } from '../http/response.js';
import type { ParsedTarget } from '../routing/canonical-path.js';
import type { RouteMatch } from '../routing/router.js';
import type { CompiledRoute, RuntimeState } from '../runtime.js';
import type { LimitState } from '../state/limiter.js';
import type { SessionRecord } from '../state/state-store.js';

/** Who the caller is, once authenticated. */
export interface Identity {
  readonly userId: string;
  readonly email: string;
  readonly roles: readonly string[];
  readonly sessionId: string;
}

export interface UpgradeRequest {
  readonly socket: Duplex;
  readonly head: Buffer;
}

/**
 * A stage MUST either return (the request continues), set `ctx.ended` after writing a reply itself,
 * or throw a GatewayError (the runner renders it). A stage MUST NOT read a claim of a token that an
 * earlier stage has not verified, and only the forward stage writes to an upstream.
 */
export type Stage = (ctx: RequestContext) => void | Promise<void>;

export class RequestContext {
  readonly req: IncomingMessage;
  readonly res: GatewayResponse;
  /** The runtime snapshot this request uses from start to end, even if a reload swaps it. */
  readonly state: RuntimeState;
  readonly upgrade: UpgradeRequest | null;
  readonly startedAt: number;
  reqId = '';
  clientIp = '';
  /**
   * What per-address limits and locks count this client under: clientIp, or for IPv6 its network
   * (`server.ipv6_limit_prefix`). Decided once, with clientIp; never logged or forwarded in its place.
   */
  clientIpKey = '';
  forwardedFor = '';
  forwardedProto = 'http';
  forwardedHost = '';
  host = '';
  target: ParsedTarget | null = null;
  match: RouteMatch<CompiledRoute> | null = null;
  /** Claims of a token whose signature and claims were verified; null = anonymous. */
  claims: AccessClaims | null = null;
  /** The live session of those claims, once the session-state stage has found it. */
  session: SessionRecord | null = null;
  /** The claims' session has ended (revoked, replaced, disabled): the token is no longer its user's. */
  sessionEnded = false;
  identity: Identity | null = null;
  /** The verified token was presented with the DPoP scheme (RFC 9449 §7.1), not Bearer. */
  dpopScheme = false;
  /** RFC 9449: the thumbprint of the key whose DPoP proof this request carried, once verified. */
  dpopJkt: string | null = null;
  /**
   * Set at refresh when its DPoP proof is a replay: the refresh endpoint calls it with the refresh token
   * it read, which names the session to end; it refuses the request (nothing is issued without the proof).
   */
  refuseReplayedProof: ((refreshToken: unknown) => Promise<never>) | null = null;
  /** Every rate limit that counted this request (the RateLimit-* headers describe the tightest). */
  readonly limits: LimitState[] = [];
  /** The header list sent upstream, built by the identity-headers stage. */
  upstreamHeaders: string[] | null = null;
  /** The request's `Expect` is not exactly 100-continue: set by the listener, from node:http's events. */
  unmetExpectation = false;
  /** Set when a stage has written the reply itself. */
  ended = false;
  /** Aborts the upstream exchange in flight; called when the client leaves before the answer is out. */
  abortUpstream: ((reason: Error) => void) | null = null;
  /** Upstream status, or the gateway's own, for the access log. */
  errorCode: string | null = null;
  /**
   * The status of an upgrade's answer from the upstream (its 101, or its refusal) once relayed to the
   * client: the relay writes it on the socket, past `res`. Null when none was (the gateway's own answers
   * go through `res`).
   */
  relayedStatus: number | null = null;

  constructor(
    req: IncomingMessage,
    res: GatewayResponse,
    state: RuntimeState,
    upgrade: UpgradeRequest | null,
    startedAt: number,
  ) {
    this.req = req;
    this.res = res;
    this.state = state;
    this.upgrade = upgrade;
    this.startedAt = startedAt;
  }

  /** The client has closed its connection: no answer can reach it (work only it waits for can be dropped). */
  gone(): boolean {
    return this.req.socket.destroyed;
  }
}
