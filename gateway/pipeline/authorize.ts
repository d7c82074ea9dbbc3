// Route roles: a route that lists roles admits a caller holding at least one of them (403 otherwise).
// Roles are the session's current ones, so a role change applies on the next request.
import { GatewayError } from '../errors.js';
import { tokenError } from './authenticate.js';
import type { RequestContext, Stage } from './context.js';

export function createAuthorize(): Stage {
  return function authorize(ctx: RequestContext): void {
    const required = ctx.match!.entry.config.roles;
    if (required.length === 0) return;
    const identity = ctx.identity;
    if (identity === null) throw tokenError('missing_token');
    for (const role of identity.roles) if (required.includes(role)) return;
    throw new GatewayError('forbidden');
  };
}
