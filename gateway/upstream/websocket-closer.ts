// Closes a relayed WebSocket from the gateway's side with a proper close frame (RFC 6455 §5.5.1), between
// two of the upstream's frames: it watches the upstream→client bytes for frame boundaries. No access logic.
import type { Duplex, Readable } from 'node:stream';

export interface WebSocketCloser {
  /** Stops both directions, sends a close frame with `code` to the client, and ends the connection. */
  close(code: number, reason: string): void;
}

/** How long the upstream may take to finish a frame it is in the middle of, and the client to close. */
const GRACE_MS = 1_000;
const MAX_HEADER = 14;

/** Counts the bytes of RFC 6455 frames (header, extended length, mask, payload) to know where one ends. */
function createFrameTracker() {
  const header = Buffer.alloc(MAX_HEADER);
  let headerBytes = 0;
  let payloadLeft = 0;

  const headerLength = (): number => {
    if (headerBytes < 2) return MAX_HEADER + 1;
    const len7 = header[1]! & 0x7f;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (header[1]! & 0x80 ? 4 : 0);
  };
  const payloadLength = (): number => {
    const len7 = header[1]! & 0x7f;
    if (len7 < 126) return len7;
    return len7 === 126 ? header.readUInt16BE(2) : Number(header.readBigUInt64BE(2));
  };

  return {
    atBoundary: (): boolean => headerBytes === 0 && payloadLeft === 0,
    /** Consumes `chunk`; with `untilBoundary`, stops where a frame ends. Returns the bytes consumed. */
    feed(chunk: Buffer, untilBoundary: boolean): number {
      let i = 0;
      while (i < chunk.length) {
        if (payloadLeft > 0) {
          const take = Math.min(payloadLeft, chunk.length - i);
          payloadLeft -= take;
          i += take;
          if (payloadLeft === 0 && untilBoundary) return i;
          continue;
        }
        header[headerBytes++] = chunk[i++]!;
        if (headerBytes === headerLength()) {
          payloadLeft = payloadLength();
          headerBytes = 0;
          if (payloadLeft === 0 && untilBoundary) return i;
        }
      }
      return i;
    },
  };
}

function closeFrame(code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 123); // control frame payload ≤ 125 bytes
  const frame = Buffer.alloc(4 + text.length);
  frame[0] = 0x88; // FIN + close
  frame[1] = 2 + text.length; // unmasked: server to client
  frame.writeUInt16BE(code, 2);
  text.copy(frame, 4);
  return frame;
}

/**
 * Call on the client socket before the relay starts: http-proxy pipes the upstream socket into it after
 * the 101, which is when tracking begins. Before that (or for a refused upgrade) close() just destroys.
 */
export function watchWebSocket(client: Duplex): WebSocketCloser {
  let upstream: Readable | null = null;
  let closing: { code: number; reason: string } | null = null;
  let done = false;
  const frames = createFrameTracker();

  const finish = (): void => {
    if (done) return;
    done = true;
    const { code, reason } = closing!;
    upstream?.destroy();
    client.end(closeFrame(code, reason));
    setTimeout(() => client.destroy(), GRACE_MS).unref();
  };

  client.once('pipe', (source: Readable) => {
    upstream = source;
    source.on('data', (chunk: Buffer) => {
      if (closing === null) {
        frames.feed(chunk, false);
        return;
      }
      if (done) return;
      // Unpiped: only the rest of the frame in progress still goes out, then our close frame.
      const n = frames.feed(chunk, true);
      client.write(chunk.subarray(0, n));
      if (frames.atBoundary()) finish();
    });
  });

  return {
    close(code, reason) {
      if (closing !== null || client.destroyed) return;
      closing = { code, reason };
      if (upstream === null) {
        client.destroy();
        return;
      }
      upstream.unpipe(client);
      upstream.resume(); // unpipe paused it; the rest of the frame in progress is forwarded by hand
      // Nothing more from a revoked client reaches the upstream; what it still sends is read and dropped.
      client.unpipe();
      client.resume();
      if (frames.atBoundary()) {
        finish();
        return;
      }
      setTimeout(() => {
        if (!done) client.destroy();
      }, GRACE_MS).unref();
    },
  };
}
