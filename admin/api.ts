// The admin API behind the token gate of admin/server.ts: assembles the per-resource routes (users,
// sessions, audit, system, explain) into one router. It holds no handler logic and does no authorisation itself.
import type { Operations } from '../gateway/operations.js';
import type { ReloadReport } from '../gateway/reload.js';
import type { RuntimeState } from '../gateway/runtime.js';
import type { Services } from '../gateway/services.js';
import { createApiRouter } from './http.js';
import type { MetricsStats } from './metrics-stats.js';
import { auditRoutes } from './routes/audit.js';
import { explainRoutes } from './routes/explain.js';
import { sessionRoutes } from './routes/sessions.js';
import { systemRoutes } from './routes/system.js';
import { userRoutes } from './routes/users.js';
import type { AdminApiHandler } from './server.js';

export interface AdminApiDeps {
  readonly services: Pick<Services, 'users' | 'state' | 'audit' | 'tokens'>;
  readonly operations: Operations;
  /** The runtime snapshot of the moment: its login guard and route table follow reloads. */
  readonly current: () => RuntimeState;
  readonly reload: () => Promise<ReloadReport>;
  readonly stats: () => Promise<MetricsStats>;
}

export function createAdminApi(deps: AdminApiDeps): AdminApiHandler {
  const router = createApiRouter([
    ...userRoutes(deps),
    ...sessionRoutes(deps),
    ...auditRoutes(deps),
    ...systemRoutes(deps),
    ...explainRoutes(deps),
  ]);
  return (req, res, path) => router.dispatch(req, res, path);
}
