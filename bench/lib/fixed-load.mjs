// Sends an exact number of requests over keep-alive connections, one in flight per connection,
// shaped as wrk sends them (Host, the per-request header taken in turn from a file, User-Agent; no
// Connection field), or login POSTs: the load of the instructions suite, whose figures are per request
// and so need the count, not a duration. Each answer must be a 200 with a Content-Length; anything
// else fails.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

/** One GET per line of `headers.file` ({ file, header, prefix, userAgent }), formatted once. */
export function getRequests(url, headers) {
  const { host, pathname, search } = new URL(url);
  const head = (extra) =>
    Buffer.from(
      `GET ${pathname}${search} HTTP/1.1\r\nHost: ${host}\r\n${extra}User-Agent: ${headers.userAgent}\r\n\r\n`,
      'latin1',
    );
  const lines = readFileSync(headers.file, 'utf8').split('\n').filter(Boolean);
  if (lines.length === 0) throw new Error(`nothing to send in ${headers.file}`);
  return lines.map((line) => head(`${headers.header}: ${headers.prefix}${line}\r\n`));
}

/**
 * Reads answers off one connection; `onAnswer(ok)` is called per complete response, `ok` false for a
 * status other than 200 (when `allowFailures`; else that is an error, as is a missing Content-Length).
 */
function answerReader(onAnswer, onError, allowFailures) {
  let buffered = Buffer.alloc(0);
  return (data) => {
    buffered = buffered.length === 0 ? data : Buffer.concat([buffered, data]);
    for (;;) {
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buffered.subarray(0, end).toString('latin1');
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      const ok = head.startsWith('HTTP/1.1 200 ');
      if ((!ok && !allowFailures) || length === null) {
        onError(new Error(`fixed load: unexpected answer: ${head.split('\r\n')[0]}`));
        return;
      }
      const size = end + 4 + Number(length[1]);
      if (buffered.length < size) return;
      buffered = buffered.subarray(size);
      onAnswer(ok);
    }
  };
}

/** One `POST path` with a JSON body per user ({ email, password }), formatted once. */
export function loginRequests(origin, path, users, userAgent) {
  const { host } = new URL(origin);
  return users.map(({ email, password }) => {
    const body = JSON.stringify({ email, password });
    return Buffer.from(
      `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: ${userAgent}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });
}

/**
 * Sends `count` of `requests` (formatted requests, taken in turn) to `url`'s host over `connections`
 * connections and resolves once every answer is in, to the number of answers that were not 200 (with
 * `allowFailures`; without it the first such answer rejects).
 */
export async function sendFixed({ url, count, connections, requests, allowFailures = false }) {
  const { hostname, port } = new URL(url);
  let sent = 0;
  let failed = 0;
  const one = () =>
    new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname);
      const next = () => {
        if (sent === count) {
          socket.end();
          resolve();
        } else socket.write(requests[sent++ % requests.length]);
      };
      const fail = (err) => {
        socket.destroy();
        reject(err);
      };
      const answered = (ok) => {
        if (!ok) failed++;
        next();
      };
      socket.on('connect', next);
      socket.on('error', fail);
      socket.on('data', answerReader(answered, fail, allowFailures));
    });
  await Promise.all(Array.from({ length: Math.min(connections, count) }, one));
  return failed;
}
