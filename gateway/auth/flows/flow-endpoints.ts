// The account flows' HTTP endpoints, declared as internal routes like the core ones (same stages: global
// limit, authentication). Parsing and replies only: each handler calls one flow operation.
import type { GatewayConfig, RouteConfig } from '../../../config/types.js';
import { GatewayError } from '../../errors.js';
import { stringField } from '../../http/json-body.js';
import { sendSuccess } from '../../http/reply.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { Accounts } from '../accounts.js';
import {
  type Endpoint,
  type EndpointRoute,
  endpointRoute,
  type JsonBody,
  requestMeta,
  withLimits,
} from '../endpoints.js';
import type { ChangeCredentials } from './change-credentials.js';
import type { MySessions } from './my-sessions.js';
import type { NewDevice } from './new-device.js';
import type { PasswordReset } from './password-reset.js';
import type { TwoFactor } from './two-factor.js';
import type { Verification } from './verification.js';

export interface FlowHandlers {
  readonly verification: Verification | null;
  readonly reset: PasswordReset | null;
  readonly newDevice: NewDevice | null;
  readonly change: ChangeCredentials;
  readonly twoFactor: TwoFactor;
  readonly sessions: MySessions;
}

type Handler = (ctx: RequestContext, body: JsonBody) => Promise<void>;

const TOKEN_MAX = 256;

/**
 * `flows` and `accounts` null: the route declarations only (for `portcullis explain`), whose handlers
 * are never called. Mail-dependent routes exist when mail is configured.
 */
export function createFlowRoutes(
  config: GatewayConfig,
  flows: FlowHandlers | null,
  accounts: Accounts | null,
): EndpointRoute[] {
  const mailOn = flows === null ? config.mail.host !== null : flows.reset !== null;
  const the = (): FlowHandlers => {
    if (flows === null) throw new Error('route declarations only: no handler runs');
    return flows;
  };
  const base = config.auth.base_path;
  const profile = config.auth.profile_path;
  const pw = 4 * config.passwords.max_length;
  const ok = (ctx: RequestContext, status: number, message: string, data?: unknown) => {
    withLimits(ctx, []);
    sendSuccess(ctx.res, status, message, data);
  };
  const report = (ctx: RequestContext) => (limits: Parameters<typeof withLimits>[1]) =>
    withLimits(ctx, limits);
  const claims = (ctx: RequestContext) => ctx.claims!;

  /**
   * A mailed link is opened with GET (one click) or relayed with POST {token}. HEAD never acts: mail
   * scanners and link previews probe links, and a probe must not spend the owner's token.
   */
  const linkHandler =
    (act: (token: unknown, ctx: RequestContext) => Promise<[string, unknown?]>): Handler =>
    async (ctx, body) => {
      if (ctx.req.method === 'HEAD') return ok(ctx, 200, 'Open this link with GET or POST it');
      let token: unknown;
      if (ctx.req.method === 'GET') {
        token = new URLSearchParams(ctx.match!.forwardPath.split('?')[1] ?? '').get('token') ?? undefined;
        if (token === undefined)
          throw new GatewayError('validation_failed', { message: 'token: this field is required' });
      } else {
        token = stringField(body, 'token', TOKEN_MAX);
      }
      const [message, data] = await act(token, ctx);
      ok(ctx, 200, message, data);
    };

  const list: [string, string, string, RouteConfig['auth'], Handler, boolean?][] = [];
  const add = (
    name: string,
    path: string,
    method: string,
    auth: RouteConfig['auth'],
    h: Handler,
    sub?: boolean,
  ) => list.push([name, path, method, auth, h, sub]);

  if (mailOn) {
    const verify = linkHandler(async (token, ctx) => {
      await the().verification!.verify(token, requestMeta(ctx));
      return ['Email address verified'];
    });
    add('verify-email', `${base}/verify-email`, 'GET', 'public', verify);
    add('verify-email', `${base}/verify-email`, 'POST', 'public', verify);
    add('verify-email-resend', `${base}/verify-email/resend`, 'POST', 'public', async (ctx, body) => {
      const email = stringField(body, 'email', 320);
      await the().verification!.resend(email, requestMeta(ctx), report(ctx));
      ok(ctx, 202, 'If the address has an unverified account, a verification link was sent');
    });
    add('password-reset-request', `${base}/password-reset/request`, 'POST', 'public', async (ctx, body) => {
      const email = stringField(body, 'email', 320);
      await the().reset!.request(email, requestMeta(ctx), report(ctx));
      ok(ctx, 202, 'If the address has an account, a reset link was sent');
    });
    add(
      'password-reset-check',
      `${base}/password-reset/confirm`,
      'GET',
      'public',
      linkHandler(async (token) => [
        'Reset token is valid; POST it with the new password',
        await the().reset!.check(token),
      ]),
    );
    add('password-reset-confirm', `${base}/password-reset/confirm`, 'POST', 'public', async (ctx, b) => {
      const token = stringField(b, 'token', TOKEN_MAX);
      await the().reset!.confirm(
        token,
        stringField(b, 'password', pw),
        stringField(b, 'password_confirm', pw),
        requestMeta(ctx),
      );
      ok(ctx, 200, 'Password reset; every session was signed out');
    });
    add('email-change', `${profile}/email`, 'POST', 'required', async (ctx, b) => {
      const input = { password: stringField(b, 'password', pw), new_email: stringField(b, 'new_email', 320) };
      const data = await the().change.requestEmailChange(claims(ctx), input, requestMeta(ctx), report(ctx));
      ok(ctx, 202, 'A confirmation link was sent to the new address', data);
    });
    const confirmChange = linkHandler(async (token, ctx) => [
      'Email address changed; every session was signed out',
      await the().change.confirmEmailChange(token, requestMeta(ctx)),
    ]);
    add('email-change-confirm', `${base}/email-change/confirm`, 'GET', 'public', confirmChange);
    add('email-change-confirm', `${base}/email-change/confirm`, 'POST', 'public', confirmChange);
    const notMe = linkHandler(async (token, ctx) => [
      'Every session was signed out; check your email to reset the password',
      await the().newDevice!.notMe(token, requestMeta(ctx)),
    ]);
    add('sessions-not-me', `${base}/sessions/not-me`, 'GET', 'public', notMe);
    add('sessions-not-me', `${base}/sessions/not-me`, 'POST', 'public', notMe);
  }

  add('login-totp', `${base}/login/totp`, 'POST', 'public', async (ctx, b) => {
    const challenge = stringField(b, 'challenge', TOKEN_MAX);
    const user = await the().twoFactor.complete(challenge, stringField(b, 'code', 64), requestMeta(ctx));
    ok(ctx, 200, 'Login successful', await accounts!.completeLogin(user, requestMeta(ctx)));
  });
  add('totp-status', `${base}/totp`, 'GET', 'required', async (ctx) => {
    ok(ctx, 200, 'Two-factor status', await the().twoFactor.status(claims(ctx).sub));
  });
  add('totp-enroll', `${base}/totp/enroll`, 'POST', 'required', async (ctx, body) => {
    const password = stringField(body, 'password', pw);
    ok(
      ctx,
      200,
      'Scan the URI, then confirm with a code',
      await the().twoFactor.enroll(claims(ctx), password, requestMeta(ctx), report(ctx)),
    );
  });
  add('totp-confirm', `${base}/totp/confirm`, 'POST', 'required', async (ctx, body) => {
    const code = stringField(body, 'code', 64);
    const data = await the().twoFactor.confirm(claims(ctx), code, requestMeta(ctx));
    ok(ctx, 200, 'Two-factor authentication enabled; keep the recovery codes safe', data);
  });
  add('totp-disable', `${base}/totp/disable`, 'POST', 'required', async (ctx, body) => {
    await the().twoFactor.disable(claims(ctx), stringField(body, 'code', 64), requestMeta(ctx));
    ok(ctx, 200, 'Two-factor authentication disabled');
  });

  add('password-change', `${profile}/password`, 'POST', 'required', async (ctx, b) => {
    const input = {
      current_password: stringField(b, 'current_password', pw),
      new_password: stringField(b, 'new_password', pw),
      new_password_confirm: stringField(b, 'new_password_confirm', pw),
    };
    const data = await the().change.changePassword(claims(ctx), input, requestMeta(ctx), report(ctx));
    ok(ctx, 200, 'Password changed; every other session was signed out', data);
  });
  add('my-sessions', `${profile}/sessions`, 'GET', 'required', async (ctx) => {
    ok(ctx, 200, 'Sessions', await the().sessions.list(claims(ctx).sub, claims(ctx).sid));
  });
  add(
    'my-sessions-revoke',
    `${profile}/sessions`,
    'DELETE',
    'required',
    async (ctx) => {
      const path = ctx.match!.forwardPath.split('?')[0] ?? '';
      const meta = requestMeta(ctx);
      if (path === '/' || path === '') {
        const ended = await the().sessions.revokeOthers(claims(ctx).sub, claims(ctx).sid, meta);
        return ok(ctx, 200, 'Every other session was signed out', { sessions_ended: ended });
      }
      const sid = path.slice(1);
      if (sid.includes('/')) throw new GatewayError('session_not_found');
      await the().sessions.revoke(claims(ctx).sub, sid, meta);
      ok(ctx, 200, 'Session signed out');
    },
    true,
  );

  return list.map(([name, path, method, auth, handle, sub]) => ({
    config: endpointRoute(config, name, path, method, auth),
    endpoint: {
      readsToken: auth !== 'public',
      // Every POST here takes a JSON body; GET (and the HEAD it answers), DELETE take none.
      body: method === 'POST' ? 'json' : 'none',
      handle,
    } satisfies Endpoint,
    exact: sub !== true,
  }));
}
