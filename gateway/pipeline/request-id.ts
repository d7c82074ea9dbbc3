// Gives every request an id: the client's X-Request-Id when it is a safe token, else a new UUID.
// It does not log; it only sets ctx.reqId and echoes it on the response.
import { randomUUID } from 'node:crypto';
import type { RequestContext, Stage } from './context.js';

const SAFE_ID = /^[A-Za-z0-9._-]{1,128}$/;

export function createRequestId(): Stage {
  return function requestId(ctx: RequestContext): void {
    const given = ctx.req.headers['x-request-id'];
    ctx.reqId = typeof given === 'string' && SAFE_ID.test(given) ? given : randomUUID();
    ctx.res.setReplyHeader('x-request-id', ctx.reqId);
  };
}
