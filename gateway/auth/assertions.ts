// Short-lived signed identity assertions for upstreams (X-Auth-Assertion), cached per session,
// route and roles for part of their 60 s life so a busy route does not sign on every request.
import { BoundedMap } from '../bounded-map.js';
import type { TokenService } from './tokens.js';

export interface AssertionSubject {
  readonly route: string;
  readonly userId: string;
  readonly email: string;
  readonly roles: readonly string[];
  readonly sessionId: string;
  /** RFC 9449 §6.1: the DPoP key the session is bound to, so upstreams can see the binding. */
  readonly cnf?: { readonly jkt: string };
}

/** An assertion is reused for at most this long, leaving upstreams 30 s of its 60 s validity. */
const REUSE_MS = 30_000;
const MAX_ENTRIES = 10_000;

export function createAssertionCache(tokens: TokenService, now: () => number = Date.now) {
  const cache = new BoundedMap<string, { token: string; until: number }>(MAX_ENTRIES);
  return async function assertionFor(s: AssertionSubject): Promise<string> {
    const key = `${s.sessionId}\n${s.route}\n${s.roles.join(',')}\n${s.cnf?.jkt ?? ''}`;
    const at = now();
    const hit = cache.get(key);
    if (hit !== undefined && hit.until > at) return hit.token;
    const token = await tokens.signAssertion({
      aud: s.route,
      sub: s.userId,
      email: s.email,
      roles: s.roles,
      sid: s.sessionId,
      ...(s.cnf === undefined ? {} : { cnf: s.cnf }),
    });
    cache.set(key, { token, until: at + REUSE_MS });
    return token;
  };
}
