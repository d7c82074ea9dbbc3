// The JSON shapes the admin API answers with, built from store records. Whitelists: a field is shown
// only if it is named here, so a password hash or a session's device secret can never leak by accident.
import type { RuntimeState } from '../gateway/runtime.js';
import type { LimitState } from '../gateway/state/limiter.js';
import type { SessionRecord } from '../gateway/state/state-store.js';
import type { AuditEvent, LoginRecord, User } from '../gateway/users/user-store.js';

export function userView(user: User) {
  return {
    id: user.id,
    email: user.email,
    first_name: user.first_name,
    last_name: user.last_name,
    roles: user.roles,
    is_active: user.is_active,
    is_deleted: user.is_deleted,
    created_at: user.created_at.toISOString(),
    updated_at: user.updated_at.toISOString(),
  };
}

export function sessionView(s: SessionRecord) {
  return {
    sid: s.sid,
    // The device the session is bound to, as a person reads it: the login's User-Agent.
    user_agent: s.user_agent,
    ip: s.ip,
    created_at: new Date(s.created_at).toISOString(),
    last_seen: new Date(s.last_seen).toISOString(),
    expires_at: new Date(s.expires_at).toISOString(),
  };
}

export function loginView(l: LoginRecord) {
  return {
    at: l.at.toISOString(),
    ip: l.ip,
    user_agent: l.user_agent,
    success: l.success,
    reason: l.reason,
  };
}

export function lockView(s: LimitState) {
  return {
    locked: !s.allowed,
    // Attempts refused by the lock itself are counted too (the counter goes on past its limit); they
    // are not password failures, so the view stops at the limit.
    failures: Math.min(s.consumed, s.limit),
    limit: s.limit,
    retry_after_s: s.allowed ? 0 : Math.max(1, Math.ceil(s.resetMs / 1000)),
  };
}

export function auditView(e: AuditEvent) {
  return {
    id: e.id,
    at: e.at.toISOString(),
    type: e.type,
    user_id: e.user_id,
    actor: e.actor,
    ip: e.ip,
    details: e.details,
  };
}

export function routeTable(state: RuntimeState) {
  return {
    generation: state.generation,
    routes: state.routes.map(({ config: r, endpoint }) => ({
      name: r.name,
      // The gateway's own endpoints (login, refresh...) are answered in-process, never forwarded.
      internal: endpoint !== undefined,
      path: r.path,
      methods: r.methods,
      host: r.host,
      upstream: r.upstream,
      auth: r.auth,
      roles: r.roles,
      strip_prefix: r.strip_prefix,
      rate_limit: r.rate_limit?.text ?? null,
      timeout_ms: r.timeout,
      websocket: r.websocket,
      body_limit: r.body_limit,
    })),
  };
}
