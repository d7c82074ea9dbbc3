// Admin API on a user's sessions: list them, end them all, or end one. An ended session is gone from
// the allow-list, so its tokens answer token_revoked on the next request on every replica. They work
// while the user store is down: the sessions are the state store's.
import { GatewayError } from '../../gateway/errors.js';
import { sendSuccess } from '../../gateway/http/reply.js';
import { actorFields } from '../../gateway/operations.js';
import type { AdminApiDeps } from '../api.js';
import { type ApiRoute, noBody } from '../http.js';
import { sessionView } from '../views.js';
import { adminActor, sessionOwner } from './users.js';

const SESSION_ID = /^[A-Za-z0-9_-]{1,128}$/;

export function sessionRoutes(deps: AdminApiDeps): ApiRoute[] {
  const { state, audit } = deps.services;
  return [
    {
      pattern: '/api/users/:id/sessions',
      methods: {
        GET: async ({ params, res }) => {
          const sessions = await state.listUserSessions(await sessionOwner(deps, params.id));
          sendSuccess(res, 200, 'Sessions', {
            sessions: sessions.sort((a, b) => b.created_at - a.created_at).map(sessionView),
          });
        },
        DELETE: async ({ params, req, res }) => {
          const userId = await sessionOwner(deps, params.id);
          await noBody(req);
          const revoked = await deps.operations.revokeSessions(userId, adminActor(req));
          sendSuccess(res, 200, 'Sessions revoked', { revoked });
        },
      },
    },
    {
      pattern: '/api/users/:id/sessions/:sid',
      methods: {
        DELETE: async ({ params, req, res }) => {
          const userId = await sessionOwner(deps, params.id);
          await noBody(req);
          const sid = params.sid!;
          // endSession is keyed by user: a session id of another user is "not found" here, never ended.
          const ended = SESSION_ID.test(sid) && (await state.endSession(userId, sid, 'token_revoked'));
          if (!ended) throw new GatewayError('not_found', { message: 'Session not found' });
          // The same event the revoke-all operation writes, naming the one session.
          await audit.recordWritten({
            type: 'session_revoked',
            user_id: userId,
            ...actorFields(adminActor(req)),
            details: { sessions: [sid] },
          });
          sendSuccess(res, 200, 'Session revoked', { revoked: [sid] });
        },
      },
    },
  ];
}
