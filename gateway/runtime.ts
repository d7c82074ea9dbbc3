// Compiles a validated config into the immutable runtime state a request runs against: routes with
// their balancers, the gateway's own endpoints, the router and the stage list. Reload builds a new
// one and swaps it atomically; the services (stores, keys) are shared across reloads.
import type { DeviceBindingMode, GatewayConfig, RouteConfig } from '../config/types.js';
import { createAccounts } from './auth/accounts.js';
import { routeBinding } from './auth/binding.js';
import { createEndpointRoutes, type Endpoint, reservedPaths } from './auth/endpoints.js';
import { createAccountFlows } from './auth/flows/index.js';
import { createLoginGuard, type LoginGuard } from './auth/login-guard.js';
import type { Stage } from './pipeline/context.js';
import { createStages, type PipelineDeps } from './pipeline/index.js';
import { createRefusalCount, type RefusalCount } from './pipeline/rate-limit.js';
import { createRouter, type RouteEntry, type Router } from './routing/router.js';
import type { Services } from './services.js';
import type { Limiter } from './state/limiter.js';
import { type Balancer, createBalancer } from './upstream/balancer.js';

export interface CompiledRoute extends RouteEntry {
  readonly config: RouteConfig;
  readonly balancer: Balancer;
  /** Set for the gateway's own endpoints, which are answered here and never forwarded. */
  readonly endpoint?: Endpoint;
  /** The route's `device_binding`, else the global mode (the gateway's own endpoints: always the global one). */
  readonly deviceBinding: DeviceBindingMode;
}

export interface RuntimeState {
  readonly config: GatewayConfig;
  readonly router: Router<CompiledRoute>;
  readonly routes: readonly CompiledRoute[];
  readonly stages: readonly Stage[];
  /** Counts a request refused before its limits were judged against the global limit (its final answer). */
  readonly countRefusal: RefusalCount;
  readonly guard: LoginGuard;
  /**
   * admin.token_failures: refusals at the admin API's token gate per client address. In the state store,
   * so every worker and replica counts against the same window (process memory while Redis fails).
   */
  readonly adminGate: Limiter;
  /** Increases by one on every successful reload; logged so operators can tell configs apart. */
  readonly generation: number;
}

export function compileRuntime(
  config: GatewayConfig,
  services: Services,
  deps: PipelineDeps,
  generation: number,
): RuntimeState {
  const guard = createLoginGuard(config, services.limiters);
  const flows = createAccountFlows(services, config, guard);
  const accounts = createAccounts({
    ...services,
    config,
    guard,
    onStateSkip: deps.onStateSkip,
    hooks: flows.hooks,
  });
  const own: CompiledRoute[] = [
    ...createEndpointRoutes(config, accounts, services.tokens),
    ...flows.routes(accounts),
  ].map((r) => ({ ...r, balancer: createBalancer([]), deviceBinding: routeBinding(config, r.config) }));
  const routes: CompiledRoute[] = [
    ...own,
    ...config.routes.map((route) => ({
      config: route,
      balancer: createBalancer(route.upstream),
      deviceBinding: routeBinding(config, route),
    })),
  ];
  const router = createRouter(routes, reservedPaths(config));
  const stages = createStages(config, router, services, deps);
  const countRefusal = createRefusalCount(config, services.limiters, services.audit);
  // Not fail closed: operators need the admin API most while the state store is failing.
  const adminGate = services.limiters.create('admin-token', config.admin.token_failures, {
    failClosed: false,
  });
  return Object.freeze({
    config,
    router,
    routes,
    stages: Object.freeze(stages),
    countRefusal,
    guard,
    adminGate,
    generation,
  });
}

/** Every upstream origin a state uses: pools for the others can be closed after a reload. */
export function originsOf(state: RuntimeState): Set<string> {
  return new Set(state.routes.flatMap((r) => r.config.upstream));
}
