// Login and register protections, in the contract's order: rate limits per email and per IP first
// (they protect the hashing CPU), then the brute-force lock. Attempts are counted before the password
// is checked, so concurrent guesses can never try more passwords than the limit allows. Every "ip" here is
// the client's limit key (RequestContext.clientIpKey): an IPv6 client is counted by its network.
import type { GatewayConfig, Rate } from '../../config/types.js';
import { GatewayError } from '../errors.js';
import { rateLimitHeaders } from '../http/rate-limit-headers.js';
import type { LimiterBackend, LimitState } from '../state/limiter.js';

export interface LoginGuard {
  /**
   * Counts a login attempt against the login rate limits; throws rate_limited when over. The email's
   * unlock epoch (part of the lock's key) is read meanwhile, for `begin`. A known device (a valid
   * device token for this email) is not counted per email: strangers filling that limit would
   * otherwise keep the owner out with five requests a minute, which the lock's design refuses to allow.
   */
  limitLogin(email: string, ipKey: string, knownDevice: boolean): Promise<LoginLimits>;
  limitRegister(email: string, ipKey: string): Promise<readonly LimitState[]>;
  /** Clears every counter and lock of the email (admin unlock). */
  unlock(email: string): Promise<void>;
  /** Lock state of an email from one client (its limit key), and account-wide (admin detail). */
  lockState(email: string, ipKey: string | null): Promise<{ pair: LimitState | null; account: LimitState }>;
}

export interface LoginLimits {
  readonly states: readonly LimitState[];
  /**
   * Counts one attempt against the (email, IP) lock and, for devices that never logged in, the
   * account-wide lock; throws account_locked when either is exhausted.
   */
  begin(knownDevice: boolean): Promise<Attempt>;
}

export interface Attempt {
  /** The password was right: the pair counter resets, the account-wide attempt is given back. */
  succeeded(): Promise<void>;
  /** The password was wrong: returns true when this failure locked the pair or the account. */
  failed(): Promise<boolean>;
  /** The password was never checked (503 overloaded): both counts are given back. */
  withdrawn(): Promise<void>;
}

function tooMany(code: 'rate_limited' | 'account_locked', states: readonly LimitState[]): GatewayError {
  return new GatewayError(code, { headers: rateLimitHeaders(states, true), limits: states });
}

export function createLoginGuard(config: GatewayConfig, limiters: LimiterBackend): LoginGuard {
  const rl = config.rate_limits;
  const bf = config.brute_force;
  const limited = (name: string, rate: Rate) => limiters.create(name, rate, { failClosed: false });
  const loginEmail = limited('login-email', rl.login.per_email);
  const loginIp = limited('login-ip', rl.login.per_ip);
  const registerEmail = limited('register-email', rl.register.per_email);
  const registerIp = limited('register-ip', rl.register.per_ip);
  // Account protections fail closed: a lock that cannot be checked is not skipped. Under
  // `on_state_error: allow` (logins issue tokens while the store is down) they count in process memory.
  const locks = { failClosed: config.storage.on_state_error !== 'allow' };
  const window = { text: '', duration_ms: bf.cooloff };
  const pairs = limiters.create('bf-pair', { ...window, points: bf.failure_limit }, locks);
  const accounts = limiters.create('bf-account', { ...window, points: bf.account_failure_limit }, locks);
  // Unlock bumps the email's epoch, which is part of every pair key: all (email, IP) locks vanish at once
  // without enumerating IPs. The epoch never expires (duration 0): if it did, every pair lock made under
  // it would vanish with it, however recent (a lock made just before the epoch's expiry would end early).
  // One small counter per email an operator ever unlocked.
  const epochs = limiters.create('bf-epoch', { text: '', points: 2 ** 30, duration_ms: 0 }, locks);
  const pairKey = async (email: string, ipKey: string): Promise<string> => {
    const epoch = await epochs.peek(email);
    return `${epoch.limit - epoch.remaining}|${email}|${ipKey}`;
  };

  function checked(states: readonly LimitState[]): readonly LimitState[] {
    // Headers from all: when another limit is used up too and resets later, Retry-After names it.
    if (states.some((s) => !s.allowed)) throw tooMany('rate_limited', states);
    return states;
  }

  async function beginAttempt(email: string, key: string, knownDevice: boolean): Promise<Attempt> {
    // Both counted at once (one round trip); a count that must not stand is given back before answering.
    const [pair, account] = await Promise.all([
      pairs.consume(key),
      knownDevice ? null : accounts.consume(email),
    ]);
    if (!pair.allowed) {
      if (account !== null) await accounts.refund(email);
      throw tooMany('account_locked', [pair]);
    }
    if (account !== null && !account.allowed) {
      await pairs.refund(key);
      throw tooMany('account_locked', [account]);
    }
    return {
      async succeeded() {
        // Independent counters: sent together, one round trip instead of one after the other.
        await Promise.all([
          bf.reset_on_success ? pairs.reset(key) : pairs.refund(key),
          account === null ? undefined : accounts.refund(email),
        ]);
      },
      async withdrawn() {
        await Promise.all([pairs.refund(key), account === null ? undefined : accounts.refund(email)]);
      },
      async failed() {
        let locked = false;
        // The failure that uses the last point starts a full cool-off from now.
        if (pair.remaining === 0) {
          await pairs.block(key, bf.cooloff);
          locked = true;
        }
        if (account !== null && account.remaining === 0) {
          await accounts.block(email, bf.cooloff);
          locked = true;
        }
        return locked;
      },
    };
  }

  return {
    async limitLogin(email, ipKey, knownDevice) {
      // The epoch is only read: it goes out with the limits' counts instead of after them. A failure to
      // read it is begin()'s to report (the limits alone may still answer, from memory).
      const key = pairKey(email, ipKey);
      key.catch(() => undefined);
      const states = knownDevice
        ? await checked([await loginIp.consume(ipKey)])
        : await checked(await Promise.all([loginEmail.consume(email), loginIp.consume(ipKey)]));
      return { states, begin: async (knownDevice) => beginAttempt(email, await key, knownDevice) };
    },
    limitRegister: async (email, ipKey) =>
      checked(await Promise.all([registerEmail.consume(email), registerIp.consume(ipKey)])),

    async unlock(email) {
      await epochs.consume(email);
      await accounts.reset(email);
    },

    async lockState(email, ipKey) {
      const account = await accounts.peek(email);
      const pair = ipKey === null ? null : await pairs.peek(await pairKey(email, ipKey));
      return { pair, account };
    },
  };
}
