// The account flows' routes as declared (what `portcullis explain` routes with): which exist with and
// without mail, which read a token, and that the explain router knows them.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../../../../config/index.js';
import { flowRouteDeclarations } from '../../../../gateway/auth/flows/index.js';
import { createTokenService } from '../../../../gateway/auth/tokens.js';
import { explainRouter } from '../../../../gateway/explain.js';
import { parseTarget } from '../../../../gateway/routing/canonical-path.js';

const MAIL =
  'mail: { host: smtp.example.com, from: a@example.com, public_base_url: "https://app.example.com" }';
const config = (extra: string) =>
  loadConfigText(`tokens: { secret: "${'k'.repeat(32)}" }\n${extra}`, { file: null, dir: '/srv', env: {} })
    .config;
const routes = (extra: string) =>
  flowRouteDeclarations(config(extra)).map(
    (r) => `${r.config.methods![0]} ${r.config.path} ${r.endpoint.readsToken}`,
  );

describe('account-flow routes', () => {
  it('without mail: TOTP, password change and my sessions only', () => {
    expect(routes('')).toEqual([
      'POST /api/auth/login/totp false',
      'GET /api/auth/totp true',
      'POST /api/auth/totp/enroll true',
      'POST /api/auth/totp/confirm true',
      'POST /api/auth/totp/disable true',
      'POST /api/users/me/password true',
      'GET /api/users/me/sessions true',
      'DELETE /api/users/me/sessions true',
    ]);
  });

  it('with mail: the links, reset, resend and email change too, under the configured paths', () => {
    const list = routes(`${MAIL}\nauth: { base_path: /auth, profile_path: /me }`);
    for (const route of [
      'GET /auth/verify-email false',
      'POST /auth/verify-email/resend false',
      'POST /auth/password-reset/request false',
      'GET /auth/password-reset/confirm false',
      'POST /auth/password-reset/confirm false',
      'POST /me/email true',
      'GET /auth/email-change/confirm false',
      'POST /auth/sessions/not-me false',
      'DELETE /me/sessions true',
    ]) {
      expect(list).toContain(route);
    }
  });

  it('the explain router matches them (a session id below /sessions included)', async () => {
    const c = config(MAIL);
    const tokens = await createTokenService({
      tokens: c.tokens,
      assertionKeyFile: null,
      dataDir: mkdtempSync(join(tmpdir(), 'portcullis-flow-routes-')),
    });
    const router = explainRouter(c, tokens);
    const match = (method: string, target: string) => router.match('gw.example', method, parseTarget(target));
    expect(match('DELETE', '/api/users/me/sessions/abc').entry.config.name).toBe(
      'portcullis:my-sessions-revoke',
    );
    expect(match('POST', '/api/auth/password-reset/request').entry.config.name).toBe(
      'portcullis:password-reset-request',
    );
  });
});
