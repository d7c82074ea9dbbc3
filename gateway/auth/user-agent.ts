// Device binding input: the User-Agent reduced to a SHA-256 digest, so the raw header never goes into a token.
// Does not compare or enforce anything: the device-binding stage does, with this value and the token's `dev`.
import { createHash } from 'node:crypto';

// Every authenticated request hashes its User-Agent, and a deployment sees few distinct ones: remember them.
const MAX_REMEMBERED = 1_000;
const MAX_UA_LENGTH = 512;
const remembered = new Map<string, string>();

/**
 * The User-Agent as kept in records (login history, sessions, audit details): its first 512 characters.
 * A client may send 16 KB in every login, and nothing prunes login records.
 */
export function keptUserAgent(ua: string): string {
  return ua.length <= MAX_UA_LENGTH ? ua : ua.slice(0, MAX_UA_LENGTH);
}

export function userAgentHash(ua: string): string {
  const known = remembered.get(ua);
  if (known !== undefined) return known;
  const hash = createHash('sha256').update(ua, 'utf8').digest('base64url');
  // Long or numerous strings (an attacker's) are hashed every time rather than evicting real ones wholesale.
  if (ua.length <= MAX_UA_LENGTH && remembered.size < MAX_REMEMBERED) remembered.set(ua, hash);
  return hash;
}
