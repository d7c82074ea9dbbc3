// Shared pieces of the account-flow tests: a gateway wired to a real SMTP sink, links read back from the
// mail it received, and an RFC 6238 code generator written here (independent of the gateway's otpauth).
import { createHmac } from 'node:crypto';
import { expect } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import { type SmtpSink, startSmtpSink } from '../../support/smtp-sink.js';
import { call, PASSWORD, type Reply, startAccountsGateway, type Target, UA } from '../accounts/support.js';

export const PUBLIC_BASE = 'https://accounts.example.test';

export interface FlowsGateway {
  readonly gw: TestGateway;
  readonly sink: SmtpSink;
  stop(): Promise<void>;
}

export interface FlowsOptions {
  /** Extra `auth` entries, e.g. `require_verified_email: true`. */
  readonly auth?: string;
  /** Replaces the open flow limits, e.g. `password_reset: { per_email: 2/h, per_ip: 100/h }`. */
  readonly limits?: string;
  /** Extra top-level YAML. */
  readonly yaml?: string;
  /** false: no `mail:` section at all. */
  readonly mail?: boolean;
  /** Replaces the open brute-force map, e.g. `{ failure_limit: 3, account_failure_limit: 50 }`. */
  readonly bruteForce?: string;
  /** Replaces the open login limits map, e.g. `{ per_email: 2/m, per_ip: 1000/m }`. */
  readonly login?: string;
  /** Extra `server` entries, e.g. `trusted_proxies: [127.0.0.1]`. */
  readonly server?: string;
  /** `storage.state`, e.g. a Redis URL (default memory). */
  readonly state?: string;
}

const OPEN_FLOW_LIMITS = `verification: { per_email: 1000/h, per_ip: 1000/h }
  password_reset: { per_email: 1000/h, per_ip: 1000/h }
  email_change: { per_email: 1000/h, per_user: 1000/h }
  totp: { per_user: 1000/m, per_user_daily: 100000/d }`;

export async function startFlowsGateway(options: FlowsOptions = {}): Promise<FlowsGateway> {
  const sink = await startSmtpSink();
  const mail =
    options.mail === false
      ? ''
      : `mail: { host: 127.0.0.1, port: ${sink.port}, starttls: false, from: "Portcullis <no-reply@example.test>", public_base_url: "${PUBLIC_BASE}" }`;
  const yaml = `
rate_limits:
  global: { anonymous: 100000/h, authenticated: 100000/h }
  login: ${options.login ?? '{ per_email: 1000/m, per_ip: 1000/m }'}
  register: { per_email: 1000/m, per_ip: 1000/m }
  ${options.limits ?? OPEN_FLOW_LIMITS}
brute_force: ${options.bruteForce ?? '{ failure_limit: 1000, account_failure_limit: 1000 }'}
auth: { totp_issuer: "Portcullis Test"${options.auth === undefined ? '' : `, ${options.auth}`} }
${mail}
${options.yaml ?? ''}`;
  const gw = await startAccountsGateway({
    openLimits: false,
    yaml,
    base: {
      ...(options.server === undefined ? {} : { server: options.server }),
      ...(options.state === undefined ? {} : { state: options.state }),
    },
  });
  return {
    gw,
    sink,
    async stop() {
      await gw.stop();
      await sink.close();
    },
  };
}

/** The `token` query parameter of the first link in the newest mail to `to` whose subject matches. */
export async function mailedToken(
  sink: SmtpSink,
  to: string,
  subject: RegExp,
): Promise<{ token: string; link: string }> {
  const m = await sink.waitFor((x) => x.to.includes(to.toLowerCase()) && subject.test(x.subject));
  const newest = [...sink.to(to)].reverse().find((x) => subject.test(x.subject)) ?? m;
  const link = newest.links.find((l) => l.includes('token='));
  expect(link, newest.text).toBeDefined();
  return { token: new URL(link!).searchParams.get('token')!, link: link! };
}

/** Waits until `count` mails matching `subject` reached `to`. */
export async function mailCount(sink: SmtpSink, to: string, subject: RegExp, count: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (sink.to(to).filter((m) => subject.test(m.subject)).length < count) {
    if (Date.now() > deadline) throw new Error(`fewer than ${count} mails "${subject}" to ${to}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** GET of a mailed link through the gateway (the path and query, the public host swapped for ours). */
export function openLink(gw: Target, link: string, method = 'GET'): Promise<Reply> {
  const u = new URL(link);
  return call(gw, method, `${u.pathname}${u.search}`);
}

export function authed(gw: Target, method: string, path: string, token: string, json?: unknown, ua = UA) {
  return call(gw, method, path, { token, ua, ...(json === undefined ? {} : { json }) });
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32Decode(text: string): Buffer {
  let bits = '';
  for (const c of text.replace(/=+$/, '').toUpperCase())
    bits += BASE32.indexOf(c).toString(2).padStart(5, '0');
  const bytes: number[] = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(Number.parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** RFC 6238 (SHA-1, 6 digits, 30 s), `steps` periods from now. */
export function totpCode(secret: string, steps = 0, at = Date.now()): string {
  const counter = Math.floor(at / 30_000) + steps;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const h = createHmac('sha1', base32Decode(secret)).update(msg).digest();
  const offset = h[h.length - 1]! & 0xf;
  const n = (h.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

/**
 * Waits out the last 3 s of a 30 s step, so codes generated now for this step and the next one stay in
 * the server's window (±1 step) while the test uses them.
 */
export async function awayFromStepEdge(): Promise<void> {
  const into = Date.now() % 30_000;
  if (into > 27_000) await new Promise((r) => setTimeout(r, 30_000 - into + 100));
}

/**
 * Turns TOTP on for the session's user, confirmed with the code of the next step (so this step's code
 * is still unused for the test): the secret and the recovery codes.
 */
export async function enrollTotp(
  gw: Target,
  access: string,
): Promise<{ secret: string; recovery: string[] }> {
  await awayFromStepEdge();
  const start = await authed(gw, 'POST', '/api/auth/totp/enroll', access, { password: PASSWORD });
  expect(start.status, start.text).toBe(200);
  const secret = start.body!.data!.secret as string;
  const done = await authed(gw, 'POST', '/api/auth/totp/confirm', access, { code: totpCode(secret, 1) });
  expect(done.status, done.text).toBe(200);
  return { secret, recovery: done.body!.data!.recovery_codes as string[] };
}
