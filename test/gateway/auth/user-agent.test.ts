// The User-Agent digest put in access tokens: stable, opaque, and never the raw header.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { userAgentHash } from '../../../gateway/auth/user-agent.js';

describe('userAgentHash', () => {
  const ua = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0';

  it('is the SHA-256 of the UTF-8 User-Agent in base64url, and does not contain the UA', () => {
    expect(userAgentHash(ua)).toBe(createHash('sha256').update(Buffer.from(ua, 'utf8')).digest('base64url'));
    expect(userAgentHash(ua)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(userAgentHash(ua)).not.toContain('Mozilla');
  });

  it('tells different User-Agents apart, including a one-character change', () => {
    expect(userAgentHash(ua)).not.toBe(userAgentHash(`${ua} `));
    expect(userAgentHash('')).not.toBe(userAgentHash(ua));
  });
});
