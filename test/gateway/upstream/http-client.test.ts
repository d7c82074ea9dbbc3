// undici's failures, translated by their stable codes into what the forward stage acts on: a connect
// timeout is a connect failure (passive health, retry) answered as a timeout (504), not a refusal (502).
import { errors } from 'undici';
import { describe, expect, it } from 'vitest';
import { isConnectFailure, isTimeout } from '../../../gateway/upstream/failure.js';
import { classifyUpstreamError } from '../../../gateway/upstream/http-client.js';

const errno = (code: string): Error => Object.assign(new Error(code), { code });

describe('classifyUpstreamError', () => {
  it.each([
    ['ECONNREFUSED', errno('ECONNREFUSED'), 'connect', true, false],
    ['EHOSTUNREACH', errno('EHOSTUNREACH'), 'connect', true, false],
    ['ENOTFOUND', errno('ENOTFOUND'), 'connect', true, false],
    ['UND_ERR_CONNECT_TIMEOUT', new errors.ConnectTimeoutError(), 'connect_timeout', true, true],
    ['UND_ERR_HEADERS_TIMEOUT', new errors.HeadersTimeoutError(), 'timeout', false, true],
    ['UND_ERR_BODY_TIMEOUT', new errors.BodyTimeoutError(), 'timeout', false, true],
    ['UND_ERR_ABORTED', new errors.RequestAbortedError(), 'aborted', false, false],
    // What undici destroys the connection with on an unsolicited 100 Continue.
    ['UND_ERR_SOCKET', new errors.SocketError('bad response'), 'failed', false, false],
    ['ECONNRESET', errno('ECONNRESET'), 'failed', false, false],
  ])('%s', (_code, err, kind, connectFailure, timeout) => {
    const found = classifyUpstreamError(err);
    expect(found).toBe(kind);
    expect(isConnectFailure(found)).toBe(connectFailure);
    expect(isTimeout(found)).toBe(timeout);
  });
});
