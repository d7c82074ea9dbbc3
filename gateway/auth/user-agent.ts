// Device binding input: the User-Agent reduced to a SHA-256 digest, so the raw header never goes into a token.
// Does not compare or enforce anything: the device-binding stage does, with this value and the token's `dev`.
import { createHash } from 'node:crypto';

export function userAgentHash(ua: string): string {
  return createHash('sha256').update(ua, 'utf8').digest('base64url');
}
