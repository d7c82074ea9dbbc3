// Forgeries shared by the security tests.

/**
 * The token with one character of its signature (its last base64url segment) replaced. The
 * second-to-last character, not the last: the last can hold padding bits that decoders ignore, so
 * changing it may leave the decoded bytes as they were ('…A' and '…B' decode alike for a 16-byte
 * tag), and the replacement is chosen by the character it replaces, so the token always changes.
 */
export function flipSignature(token: string): string {
  const i = token.length - 2;
  return `${token.slice(0, i)}${token[i] === 'A' ? 'B' : 'A'}${token.slice(i + 1)}`;
}
