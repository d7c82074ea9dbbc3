// Refuses a request whose `Expect` asks for anything but 100-continue (RFC 9110 §10.1.1), which the
// gateway can never meet. It does not parse the header: the listener sets the flag (gateway/server.ts).
import { GatewayError } from '../errors.js';
import type { RequestContext, Stage } from './context.js';

export function createCheckExpectation(): Stage {
  return function checkExpectation(ctx: RequestContext): void {
    if (!ctx.unmetExpectation) return;
    // Closed: the client may still be holding its body back for an answer that will never come.
    throw new GatewayError('expectation_failed', { close: true });
  };
}
