// A session record for state-store tests: a fresh sid, a live minute ahead, every field overridable.
import { randomBytes } from 'node:crypto';
import type { SessionRecord } from '../../gateway/state/state-store.js';

export function testSession(userId: string, over: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return {
    sid: randomBytes(16).toString('hex'),
    user_id: userId,
    email: 'ada@example.com',
    roles: ['user'],
    active: true,
    device: '',
    ip: '127.0.0.1',
    user_agent: 'test',
    created_at: now,
    last_seen: now,
    expires_at: now + 60_000,
    ...over,
  };
}
