// The pipeline: one ordered list of stages, declared here and nowhere else. Each entry says why it
// sits where it does. Stages are built once per runtime state (start-up or reload), never per request.
import type { GatewayConfig } from '../../config/types.js';
import { dpopInUse } from '../auth/binding.js';
import type { Router } from '../routing/router.js';
import type { CompiledRoute } from '../runtime.js';
import type { Services } from '../services.js';
import { createAuthenticate } from './authenticate.js';
import { createAuthorize } from './authorize.js';
import { createCheckExpectation } from './check-expectation.js';
import { createCheckHost } from './check-host.js';
import { compileTrustedProxies, createClientIp } from './client-ip.js';
import type { Stage } from './context.js';
import { createCors } from './cors.js';
import { createDeviceBinding } from './device-binding.js';
import { createDpopBinding, withDpopChallenge } from './dpop-binding.js';
import { createForward, type ForwardDeps } from './forward.js';
import { createIdentityHeaders } from './identity-headers.js';
import { createLiveConnections, type OpenConnections } from './live-connections.js';
import { createMatchRoute } from './match-route.js';
import { createOwnEndpoints } from './own-endpoints.js';
import { createRateLimit } from './rate-limit.js';
import { createRequestId } from './request-id.js';
import { createSessionCheck } from './session-state.js';
import { createStateChecks } from './state-checks.js';

export interface PipelineDeps extends ForwardDeps {
  /** Counts session checks skipped under `on_state_error: allow`. */
  readonly onStateSkip: () => void;
  /**
   * Where WebSocket and SSE connections are registered, to be ended with their session or by a reload whose
   * config would refuse them; absent: not tracked.
   */
  readonly connections?: OpenConnections;
}

export function createStages(
  config: GatewayConfig,
  router: Router<CompiledRoute>,
  services: Services,
  deps: PipelineDeps,
): Stage[] {
  const { state, audit, tokens, limiters } = services;
  // Null unless the global mode or a route uses DPoP.
  const dpop = createDpopBinding(config, { tokens, state, audit, log: deps.log, onSkip: deps.onStateSkip });
  // Where DPoP is spoken (a dpop route, a DPoP token), token challenges use its scheme (RFC 9449 §7.1).
  const challenge = dpop === null ? (stage: Stage) => stage : withDpopChallenge;
  const stages: Array<Stage | null> = [
    createRequestId(), // first: every log line and every error reply carries the id
    // Before anything keys on the client: the address, and the key its limits count under.
    createClientIp(compileTrustedProxies(config.server.trusted_proxies), config.server.ipv6_limit_prefix),
    createCheckHost(), // zero or two Host headers are garbage before any routing decision
    createCors(config, router), // preflights carry no credentials and ask about another method: before matching
    createMatchRoute(router), // the canonical path is decided once; the route says what auth it needs
    // An expectation we cannot meet is refused once the Host and path are known good (the access line then
    // names the route), before any credential is read or counted.
    createCheckExpectation(),
    challenge(createAuthenticate(tokens, dpopInUse(config))), // signature and claims before any claim is used
    // Only a verified token's device claims are compared, by the route's mode; a DPoP token's proof is
    // checked here, before its session is read.
    createDeviceBinding(config, { state, audit, log: deps.log, onSkip: deps.onStateSkip }, dpop),
    // The session allow-list, then the route and global limits (per user when a token is verified, else per
    // IP), all in one state-store round trip.
    challenge(
      createStateChecks(
        createSessionCheck(config, { state, audit, log: deps.log, onSkip: deps.onStateSkip }),
        createRateLimit(config, limiters, audit),
      ),
    ),
    // The proof's replay check rode the state checks' round trip; login and refresh proofs come after the limits.
    dpop?.finish ?? null,
    challenge(createAuthorize()), // roles come from the live session
    challenge(createOwnEndpoints(config)), // login, refresh, profile...: answered here, never forwarded
    createIdentityHeaders(config, tokens), // strips client copies on every route, then injects ours
    createLiveConnections(deps.connections), // right before forwarding: only connections that passed every check
    createForward(deps), // last: the only stage that writes to an upstream
  ];
  return stages.filter((s): s is Stage => s !== null);
}
