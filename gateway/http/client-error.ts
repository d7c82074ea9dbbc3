// What a listener answers when Node's parser refuses a request or a head times out ('clientError'): the
// envelope written on the raw socket, then close. Shared by the main and admin listeners; it keeps no state.
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { GatewayError } from '../errors.js';
import { writeRawError } from './reply.js';

const CLIENT_ERRORS: Readonly<Record<string, GatewayError>> = {
  HPE_HEADER_OVERFLOW: new GatewayError('headers_too_large', { close: true }),
  ERR_HTTP_REQUEST_TIMEOUT: new GatewayError('request_timeout', { close: true }),
};
const GARBAGE = new GatewayError('bad_request', { message: 'Malformed HTTP request', close: true });

/**
 * Handles one 'clientError'. `answering` maps each keep-alive socket to the response being written on it
 * (the listener sets it per request and drops it when that response closes): a parse error in a later
 * pipelined request must not write its reply into (or in place of) that response. Returns the error
 * answered, or null when none was written; `requestId`, when given, goes out as X-Request-Id.
 */
export function answerClientError(
  err: NodeJS.ErrnoException,
  socket: Duplex,
  answering: WeakMap<Duplex, ServerResponse>,
  requestId?: string,
): GatewayError | null {
  // The client is gone (reset), or has ended its side in the middle of a request (HPE_INVALID_EOF_STATE:
  // a half-close mid-head or mid-body): nobody is there to read a 400, and one written would be logged
  // and counted as a second request beside the one that was cut.
  if (!socket.writable || err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE') {
    socket.destroy();
    return null;
  }
  const pending = answering.get(socket);
  if (pending?.req.complete === true) {
    // The error is in a later pipelined request: a reply now would land inside this response's
    // body or be read as its answer. Finish it (without keep-alive), then close.
    pending.shouldKeepAlive = false;
    pending.once('close', () => socket.destroy());
    answering.delete(socket);
    return null;
  }
  // The error is in the body being read (or the client left mid-body): that exchange can't finish.
  // Reply if its status line is not out yet; closing aborts whatever the body was for.
  if (pending?.headersSent === true) {
    socket.destroy();
    return null;
  }
  const answer = CLIENT_ERRORS[err.code ?? ''] ?? GARBAGE;
  writeRawError(socket, answer, requestId === undefined ? '' : `x-request-id: ${requestId}\r\n`);
  return answer;
}
