// HS256 JWTs made by the bench itself with node:crypto: the peer stacks' tokens (the bench plays
// their login service) and forged tokens for the checks. It verifies nothing.
import { createHmac, randomBytes } from 'node:crypto';

const b64url = (value) => Buffer.from(value).toString('base64url');

/** An HS256 JWT of `claims`, signed with `secret` (string or bytes). */
export function signHs256(claims, secret) {
  const head = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

/** `token` with its header and payload kept and a signature made with a random key: a forgery. */
export function forgeToken(token) {
  const head = token.split('.').slice(0, 2).join('.');
  return `${head}.${createHmac('sha256', randomBytes(32)).update(head).digest('base64url')}`;
}

/** The claims of a JWT, read without verifying it (the bench reads its own tokens). */
export function decodeClaims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}
