// The `mail:` section and the account-flow keys: normalisation, defaults, and the cross-key rules
// (mail is all or nothing; require_verified_email needs mail), each problem reported with its path.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfigText } from '../../config/index.js';

const SECRET = 'k'.repeat(32);
const load = (text: string) =>
  loadConfigText(`tokens: { secret: ${SECRET} }\n${text}`, { file: null, dir: '/srv/gw', env: {} }).config;

function problems(text: string): string[] {
  try {
    load(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  throw new Error('the config loaded');
}

describe('mail config', () => {
  it('is off by default, with the flow defaults', () => {
    const c = load('');
    expect(c.mail).toMatchObject({ host: null, port: 587, secure: false, starttls: true, from: null });
    expect(c.auth).toMatchObject({
      require_verified_email: false,
      verification_ttl: 86_400_000,
      password_reset_ttl: 3_600_000,
      totp_challenge_ttl: 300_000,
      new_device_alert: true,
    });
    expect(c.rate_limits.totp.per_user.text).toBe('5/m');
    expect(c.rate_limits.totp.per_user_daily.text).toBe('50/d');
  });

  it('normalises the public base URL and keeps a named sender', () => {
    const c = load(
      'mail: { host: smtp.example.com, from: "Gate <no-reply@example.com>", public_base_url: "https://app.example.com/x/" }',
    );
    expect(c.mail.public_base_url).toBe('https://app.example.com/x');
    expect(c.mail.from).toBe('Gate <no-reply@example.com>');
  });

  it.each([
    [
      'a host without sender and link base',
      'mail: { host: smtp.example.com }',
      [
        'mail.from: is required when mail.host is set',
        'mail.public_base_url: is required when mail.host is set',
      ],
    ],
    [
      'verification without mail',
      'auth: { require_verified_email: true }',
      ['auth.require_verified_email: needs mail.host: users could never receive the link'],
    ],
    [
      'a user without password',
      'mail: { host: h, from: a@b.c, public_base_url: "https://x.y", user: u }',
      ['mail.password: is required with the other SMTP credential'],
    ],
    [
      'a relative link base',
      'mail: { public_base_url: "/relative" }',
      ['mail.public_base_url: must be an absolute http(s) URL'],
    ],
    [
      'a link base with a query',
      'mail: { public_base_url: "https://x.y/?a=1" }',
      ['mail.public_base_url: must not contain a query or fragment'],
    ],
    [
      'a link base with credentials',
      'mail: { public_base_url: "https://u:p@x.y" }',
      ['mail.public_base_url: must not contain credentials'],
    ],
    [
      'a non-http link base',
      'mail: { public_base_url: "javascript:alert(1)" }',
      ['mail.public_base_url: must be an http(s) URL'],
    ],
    [
      'a sender that is no address',
      'mail: { from: "nobody" }',
      ['mail.from: must be an address (no-reply@example.com) or "Name <no-reply@example.com>"'],
    ],
    ['an unknown mail key', 'mail: { tls: true }', ['mail.tls: unknown key']],
    [
      'a challenge lifetime too short',
      'auth: { totp_challenge_ttl: 1s }',
      ['auth.totp_challenge_ttl: must be at least 10000ms'],
    ],
  ])('refuses %s', (_name, text, expected) => {
    expect(problems(text)).toEqual(expected);
  });
});
