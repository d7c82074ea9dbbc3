// The streaming suite: one large download and one large upload through a gateway on a public route,
// and the same straight to the streaming upstream, reporting MB/s and the gateway's peak memory.
// It proves bodies are streamed, not buffered; it is not a throughput contest.
import { Agent, request } from 'node:http';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { startGateway } from '../contenders/portcullis.mjs';
import { peakRssBytes, resetPeakRss, rssBytes } from '../proc-stats.mjs';
import { freePort, waitForPort } from '../processes.mjs';

const UPSTREAM_SCRIPT = fileURLToPath(new URL('../stream-upstream.mjs', import.meta.url));
const FORWARDER_SCRIPT = fileURLToPath(new URL('../forwarder.mjs', import.meta.url));
/** How long the gateway idles after start before streaming (full runs; quick runs do not wait). */
const SETTLE_MS = 15_000;
const CHUNK = Buffer.alloc(64 * 1024, 'y');

function download(origin, bytes, agent) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    request(`${origin}/download?bytes=${bytes}`, { agent }, (res) => {
      let received = 0;
      res.on('data', (chunk) => {
        received += chunk.length;
      });
      res.on('end', () => {
        if (res.statusCode !== 200 || received !== bytes) {
          reject(
            new Error(`download from ${origin}: status ${res.statusCode}, ${received} of ${bytes} bytes`),
          );
        } else resolve((performance.now() - t0) / 1000);
      });
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/** `bytes` of body made from one reused chunk, so the client holds no more than the server. */
function generated(bytes) {
  let left = bytes;
  return new Readable({
    read() {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      this.push(n === 0 ? null : n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
    },
  });
}

function upload(origin, bytes, agent) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(
      `${origin}/upload`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => {
          const counted = res.statusCode === 200 ? JSON.parse(body).bytes : null;
          if (counted !== bytes)
            reject(
              new Error(
                `upload to ${origin}: status ${res.statusCode}, upstream got ${counted} of ${bytes} bytes`,
              ),
            );
          else resolve((performance.now() - t0) / 1000);
        });
      },
    );
    req.on('error', reject);
    generated(bytes).pipe(req);
  });
}

/** Samples the resident memory of `pid`'s tree every 100 ms; stop() returns the highest seen. */
function sampleRss(pid) {
  let peak = rssBytes(pid) ?? 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssBytes(pid) ?? 0);
  }, 100);
  return () => {
    clearInterval(timer);
    return Math.max(peak, rssBytes(pid) ?? 0);
  };
}

/** Runs the suite; returns its figures (see README.md, "Streaming"). */
export async function runStreaming(ctx, opts) {
  const bytes = opts.streamMiB * 2 ** 20;
  const port = await freePort();
  const upProc = ctx.spawnNode('stream-upstream', UPSTREAM_SCRIPT, [String(port)]);
  await waitForPort(port, upProc);
  const upstream = `http://127.0.0.1:${port}`;
  const fwPort = await freePort();
  const fwProc = ctx.spawnNode('stream-forwarder', FORWARDER_SCRIPT, [String(fwPort), upstream]);
  await waitForPort(fwPort, fwProc);
  const gw = await startGateway(ctx, {
    name: 'portcullis-stream',
    upstream,
    overrides: { routes: [{ name: 'stream', path: '/', upstream, auth: 'public', timeout: '10m' }] },
  });
  const rssJustStarted = rssBytes(gw.pid);
  // A gateway that streams in production has been up a while: V8's memory reducer returns the
  // start-up garbage some seconds after start (seen here: ≈ 96 → 82 MB between 6 and 12 s). What
  // is judged is what streaming adds to a settled gateway, so it gets that time first.
  if (!opts.quick) await new Promise((done) => setTimeout(done, SETTLE_MS));
  const rssAtStart = rssBytes(gw.pid);
  const forwarderRssAtStart = rssBytes(fwProc.pid);
  // Start-up has its own peak (loading modules, the common-password list); what is judged here is
  // what streaming adds, so the peak is reset now where the kernel allows it.
  const lifetimePeakBefore = peakRssBytes(gw.pid);
  const peakReset = resetPeakRss(gw.pid);
  const agent = new Agent({ keepAlive: true });
  const rows = [];
  for (const [direction, move] of [
    ['download', download],
    ['upload', upload],
  ]) {
    // The minimal forwarder shows what Node and undici alone hold while streaming.
    for (const [via, origin, pid] of [
      ['direct', upstream, null],
      ['forwarder', `http://127.0.0.1:${fwPort}`, fwProc.pid],
      ['gateway', gw.origin, gw.pid],
    ]) {
      const reset = pid !== null && peakReset && resetPeakRss(pid);
      const stop = pid !== null ? sampleRss(pid) : null;
      const seconds = await move(origin, bytes, agent);
      const sampledRssPeak = stop ? stop() : null;
      const rssPeak = reset ? peakRssBytes(pid) : sampledRssPeak;
      rows.push({
        direction,
        via,
        bytes,
        seconds,
        mbPerS: bytes / 2 ** 20 / seconds,
        rssPeak,
        sampledRssPeak,
      });
      ctx.progress(`streaming ${direction} via ${via}: ${(bytes / 2 ** 20 / seconds).toFixed(0)} MB/s`);
    }
  }
  agent.destroy();
  return {
    bytes,
    rows,
    gatewayRssAtStart: rssAtStart,
    gatewayRssJustStarted: rssJustStarted,
    settleMs: opts.quick ? 0 : SETTLE_MS,
    gatewayPeakBeforeStreaming: lifetimePeakBefore,
    peakReset,
    // VmHWM since each reset; without a reset, the highest sample (100 ms apart) is the fair figure.
    gatewayPeakRss: Math.max(...rows.filter((r) => r.via === 'gateway').map((r) => r.rssPeak ?? 0)),
    forwarderRssAtStart,
  };
}
