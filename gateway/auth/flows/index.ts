// Builds the account flows for one runtime state: their shared dependencies, the hooks the core login
// and register call (accounts.ts), and the flows' endpoint routes. Mail-dependent flows exist only with mail.
import type { GatewayConfig } from '../../../config/types.js';
import { GatewayError } from '../../errors.js';
import { createMailer } from '../../mail/mailer.js';
import type { Services } from '../../services.js';
import type { AccountSecurity } from '../../users/account-data.js';
import type { User } from '../../users/user-store.js';
import type { AccountHooks, Accounts } from '../accounts.js';
import type { EndpointRoute } from '../endpoints.js';
import type { LoginGuard } from '../login-guard.js';
import { createChangeCredentials } from './change-credentials.js';
import { createLinks, type FlowDeps } from './context.js';
import { gatewayFlowCrypto } from './flow-crypto.js';
import { createFlowRoutes } from './flow-endpoints.js';
import { createMySessions } from './my-sessions.js';
import { createNewDevice } from './new-device.js';
import { createPasswordReset } from './password-reset.js';
import { createPasswordUpdate } from './password-update.js';
import { createTwoFactor } from './two-factor.js';
import { createVerification } from './verification.js';

export interface AccountFlows {
  readonly hooks: AccountHooks;
  routes(accounts: Accounts): EndpointRoute[];
}

export function createAccountFlows(
  services: Services,
  config: GatewayConfig,
  guard: LoginGuard,
  now: () => number = Date.now,
): AccountFlows {
  const mailer = createMailer(config.mail);
  const deps: FlowDeps = {
    ...services,
    config,
    guard,
    data: services.users.accountData,
    // Keys of their own, like device tokens; those of a key being rotated out still verify and open.
    crypto: gatewayFlowCrypto(services.tokens, now),
    mailer,
    now,
  };
  const links = createLinks(deps);
  const update = createPasswordUpdate(deps);
  const twoFactor = createTwoFactor(deps);
  const verification = mailer === null ? null : createVerification(deps, links);
  const reset = mailer === null ? null : createPasswordReset(deps, links, update);
  const newDevice = reset === null ? null : createNewDevice(deps, links, reset);
  const handlers = {
    verification,
    reset,
    newDevice,
    change: createChangeCredentials(deps, links, update),
    twoFactor,
    sessions: createMySessions(services.state, services.audit),
  };

  /** The account checks a login must pass before its session counts; returns what they read. */
  async function allowed(user: User): Promise<AccountSecurity> {
    const security = await deps.data.security(user.id);
    if (config.auth.require_verified_email && security.verified_email !== user.email_canonical) {
      throw new GatewayError('email_not_verified');
    }
    if (security.reset_required) throw new GatewayError('password_reset_required');
    return security;
  }

  const hooks: AccountHooks = {
    registered(user) {
      verification?.registered(user);
    },
    /** In this order: none of them can be learnt without the password, which was just proven. */
    async afterPassword(user, meta) {
      const security = await allowed(user);
      return security.totp_secret === null ? null : twoFactor.challengeFor(user, meta);
    },
    async stillAllowed(user) {
      await allowed(user);
    },
    async sessionOpened(user, session, meta) {
      await newDevice?.sessionOpened(user, session, meta);
    },
  };

  return { hooks, routes: (accounts) => createFlowRoutes(config, handlers, accounts) };
}

/** The flows' routes as the runtime would declare them, with no handler behind (`portcullis explain`). */
export function flowRouteDeclarations(config: GatewayConfig): EndpointRoute[] {
  return createFlowRoutes(config, null, null);
}
