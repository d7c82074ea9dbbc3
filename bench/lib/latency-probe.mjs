// An open-loop latency probe, run as its own process: sends GETs at a fixed rate whatever the answers
// take (a closed loop would slow down with the server and hide its stalls), and prints one JSON line
// of latency percentiles. Settings from the environment: PROBE_URL, PROBE_RATE (req/s),
// PROBE_SECONDS, PROBE_TOKEN (optional Bearer token), PROBE_UA.
import { Agent, request } from 'node:http';
import { percentile } from './stats.mjs';

const url = new URL(process.env.PROBE_URL);
const rate = Number(process.env.PROBE_RATE);
const seconds = Number(process.env.PROBE_SECONDS);
const headers = { 'user-agent': process.env.PROBE_UA ?? 'portcullis-bench/1.0' };
if (process.env.PROBE_TOKEN) headers.authorization = `Bearer ${process.env.PROBE_TOKEN}`;
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

const latencies = [];
let errors = 0;
let inFlight = 0;

function once() {
  const sent = performance.now();
  inFlight++;
  const req = request(url, { agent, headers }, (res) => {
    res.resume();
    res.on('end', () => {
      inFlight--;
      if (res.statusCode === 200) latencies.push(performance.now() - sent);
      else errors++;
    });
  });
  req.on('error', () => {
    inFlight--;
    errors++;
  });
  req.end();
}

// Warm the connections so that connection set-up is not in the figures.
await Promise.all(
  Array.from(
    { length: 4 },
    () =>
      new Promise((resolve) =>
        request(url, { agent, headers }, (res) => res.resume().on('end', resolve)).end(),
      ),
  ),
);
const intervalMs = 1000 / rate;
const start = performance.now();
const total = Math.round(rate * seconds);
for (let i = 0; i < total; i++) {
  const wait = start + i * intervalMs - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  once();
}
while (inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 5));
const sorted = latencies.sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({
    sent: total,
    ok: sorted.length,
    errors,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    p999Ms: percentile(sorted, 99.9),
    maxMs: sorted.at(-1) ?? null,
  })}\n`,
);
agent.destroy();
