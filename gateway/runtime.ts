// Compiles a validated config into the immutable runtime state a request runs against: routes with
// their balancers, the router and the stage list. Reload builds a new one and swaps it atomically.
import type { GatewayConfig, RouteConfig } from '../config/types.js';
import type { Stage } from './pipeline/context.js';
import { createStages, type PipelineDeps } from './pipeline/index.js';
import { createRouter, type RouteEntry, type Router } from './routing/router.js';
import { type Balancer, createBalancer } from './upstream/balancer.js';

export interface CompiledRoute extends RouteEntry {
  readonly config: RouteConfig;
  readonly balancer: Balancer;
}

export interface RuntimeState {
  readonly config: GatewayConfig;
  readonly router: Router<CompiledRoute>;
  readonly routes: readonly CompiledRoute[];
  readonly stages: readonly Stage[];
  /** Increases by one on every successful reload; logged so operators can tell configs apart. */
  readonly generation: number;
}

export function compileRuntime(config: GatewayConfig, deps: PipelineDeps, generation: number): RuntimeState {
  const routes = config.routes.map((route) => ({ config: route, balancer: createBalancer(route.upstream) }));
  const router = createRouter(routes);
  const stages = createStages(config, router, deps);
  return Object.freeze({ config, router, routes, stages: Object.freeze(stages), generation });
}

/** Every upstream origin a state uses: pools for the others can be closed after a reload. */
export function originsOf(state: RuntimeState): Set<string> {
  return new Set(state.routes.flatMap((r) => r.config.upstream));
}
