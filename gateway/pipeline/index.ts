// The pipeline: one ordered list of stages, declared here and nowhere else. Each entry says why it
// sits where it does. Stages are built once per runtime state (start-up or reload), never per request.
import type { GatewayConfig } from '../../config/types.js';
import type { Router } from '../routing/router.js';
import type { CompiledRoute } from '../runtime.js';
import { createCheckHost } from './check-host.js';
import { compileTrustedProxies, createClientIp } from './client-ip.js';
import type { Stage } from './context.js';
import { createForward, type ForwardDeps } from './forward.js';
import { createIdentityHeaders } from './identity-headers.js';
import { createMatchRoute } from './match-route.js';
import { createRequestId } from './request-id.js';

export type PipelineDeps = ForwardDeps;

export function createStages(
  config: GatewayConfig,
  router: Router<CompiledRoute>,
  deps: PipelineDeps,
): Stage[] {
  return [
    createRequestId(), // first: every log line and every error reply carries the id
    createClientIp(compileTrustedProxies(config.server.trusted_proxies)), // before anything keys on the client
    createCheckHost(), // zero or two Host headers are garbage before any routing decision
    createMatchRoute(router), // the canonical path is decided once, then reused by the forwarder
    createIdentityHeaders(config), // strips client copies on every route, then injects ours
    createForward(deps), // last: the only stage that writes to an upstream
  ];
}
