// Admin API on accounts: search, detail (roles, lock state per source, sessions, logins), roles,
// unlock, disable, enable and delete. Every change goes through the shared operations, which audit it.
import type { IncomingMessage } from 'node:http';
import { GatewayError, isErrorCode } from '../../gateway/errors.js';
import { sendSuccess } from '../../gateway/http/reply.js';
import { limitKey } from '../../gateway/ip-network.js';
import type { Actor } from '../../gateway/operations.js';
import { normalizeIp } from '../../gateway/pipeline/client-ip.js';
import type { User } from '../../gateway/users/user-store.js';
import type { AdminApiDeps } from '../api.js';
import { type ApiCall, type ApiRoute, intValue, noBody, requireBody } from '../http.js';
import { lockView, loginView, sessionView, userView } from '../views.js';

/**
 * Who the audit log names for an action taken through the admin API: `admin`, from the peer's address.
 * The admin listener is reached directly (loopback, a private network or a tunnel), so no forwarded
 * header is read: the peer is the caller, as in the `admin request` log line.
 */
export function adminActor(req: IncomingMessage): Actor {
  const peer = req.socket.remoteAddress;
  return { name: 'admin', ip: peer === undefined ? null : normalizeIp(peer) };
}
const USER_ID = /^[0-9a-f]{32}$/;
/** Failed logins looked at to find the sources whose (email, IP) lock state is shown. */
const LOGIN_WINDOW = 100;
const LOGINS_SHOWN = 20;
const MAX_SOURCES = 10;

/**
 * The id of a user whose sessions are read or ended. Sessions live in the state store: while the user
 * store cannot answer, a well-formed id is taken as it is (one that names no user has no sessions), so
 * an operator can still end a user's sessions during an outage.
 */
export async function sessionOwner(deps: AdminApiDeps, id: string | undefined): Promise<string> {
  try {
    return (await findUser(deps, id)).id;
  } catch (err) {
    if (isErrorCode(err, 'users_unavailable')) return id!;
    throw err;
  }
}

export async function findUser(deps: AdminApiDeps, id: string | undefined): Promise<User> {
  // A malformed id is answered like an unknown one: no store round trip, no different error to probe.
  const user = id !== undefined && USER_ID.test(id) ? await deps.services.users.findById(id) : null;
  if (user === null) throw new GatewayError('user_not_found');
  return user;
}

export async function userDetail(deps: AdminApiDeps, user: User) {
  const { users, state } = deps.services;
  const { guard, config } = deps.current();
  const email = user.email_canonical;
  const [sessions, logins, account] = await Promise.all([
    state.listUserSessions(user.id),
    users.recentLogins(user.id, LOGIN_WINDOW),
    guard.lockState(email, null),
  ]);
  // A source is what the lock counts under: an IPv6 address's network (server.ipv6_limit_prefix), shown
  // once however many of its addresses failed.
  const prefix = config.server.ipv6_limit_prefix;
  const keys = [...new Set(logins.filter((l) => !l.success).map((l) => limitKey(l.ip, prefix)))];
  const pairs = await Promise.all(
    keys.slice(0, MAX_SOURCES).map(async (ip) => ({ ip, state: (await guard.lockState(email, ip)).pair })),
  );
  return {
    user: userView(user),
    lock: {
      account: lockView(account.account),
      // Only sources with failures counted in the current cool-off window.
      sources: pairs
        .filter((p) => p.state !== null && (p.state.consumed > 0 || !p.state.allowed))
        .map((p) => ({ ip: p.ip, ...lockView(p.state!) })),
    },
    sessions: sessions.sort((a, b) => b.created_at - a.created_at).map(sessionView),
    logins: logins.slice(0, LOGINS_SHOWN).map(loginView),
  };
}

async function search({ query: q, res }: ApiCall, deps: AdminApiDeps): Promise<void> {
  const cursor = q.get('cursor');
  const text = q.get('q')?.trim();
  const result = await deps.services.users.searchUsers({
    limit: intValue(q.get('limit'), 'limit', 50, 500),
    ...(text === undefined || text === '' ? {} : { q: text }),
    ...(cursor === undefined || cursor === '' ? {} : { cursor }),
  });
  sendSuccess(res, 200, 'Users', { users: result.users.map(userView), next_cursor: result.next_cursor });
}

export function userRoutes(deps: AdminApiDeps): ApiRoute[] {
  const { operations } = deps;
  const answer = async (call: ApiCall, message: string, user: User): Promise<void> =>
    sendSuccess(call.res, 200, message, await userDetail(deps, user));

  return [
    {
      pattern: '/api/users',
      methods: { GET: { query: ['q', 'limit', 'cursor'], handle: (call) => search(call, deps) } },
    },
    {
      pattern: '/api/users/:id',
      methods: {
        GET: async (call) => answer(call, 'User', await findUser(deps, call.params.id)),
        // Soft delete: the row, its logins and audit events stay; a repeat answers 200 and changes nothing.
        DELETE: async (call) => {
          const user = await findUser(deps, call.params.id);
          await noBody(call.req);
          const { user: deleted, earlier } = await operations.deleteUser(user.id, adminActor(call.req));
          await answer(call, earlier ? 'User already deleted' : 'User deleted', deleted);
        },
      },
    },
    {
      pattern: '/api/users/:id/roles',
      methods: {
        PUT: async (call) => {
          const user = await findUser(deps, call.params.id);
          const body = await requireBody(call.req);
          const extra = Object.keys(body).find((k) => k !== 'roles');
          if (extra !== undefined) {
            throw new GatewayError('validation_failed', { message: `${extra}: unknown field` });
          }
          const updated = await operations.setRoles(user.id, body.roles, adminActor(call.req));
          await answer(call, 'Roles updated', updated);
        },
      },
    },
    {
      pattern: '/api/users/:id/unlock',
      methods: {
        POST: async (call) => {
          const user = await findUser(deps, call.params.id);
          await noBody(call.req);
          await answer(call, 'User unlocked', await operations.unlock(user.id, adminActor(call.req)));
        },
      },
    },
    ...(['disable', 'enable'] as const).map((action) => ({
      pattern: `/api/users/:id/${action}`,
      methods: {
        POST: async (call: ApiCall) => {
          const user = await findUser(deps, call.params.id);
          await noBody(call.req);
          const updated = await operations.setActive(user.id, action === 'enable', adminActor(call.req));
          await answer(call, action === 'enable' ? 'User enabled' : 'User disabled', updated);
        },
      },
    })),
  ];
}
