// Enforces a route's body_limit on the bytes actually streamed: the announced Content-Length is
// checked earlier, but a chunked or lying body is cut here and the upstream request aborted.
import { Transform, type TransformCallback } from 'node:stream';
import { GatewayError } from '../errors.js';

export function limitBody(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      seen += chunk.length;
      // close: the rest of the body is never read; keeping the connection would mean draining it.
      if (seen > limit) done(new GatewayError('payload_too_large', { close: true }));
      else done(null, chunk);
    },
  });
}
