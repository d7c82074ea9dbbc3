// Header names are compared in one canonical form (lower case, `_` as `-`): the identity and
// forwarding headers are stripped in every spelling only if that form never depends on what was
// seen before (the form is remembered per name as sent, in a bounded table).
import { describe, expect, it } from 'vitest';
import {
  canonicalHeaderName,
  createRequestHeaderPolicy,
  filterRequestHeaders,
} from '../../../gateway/upstream/headers.js';

const expected = (name: string): string => name.toLowerCase().replaceAll('_', '-');

describe('canonicalHeaderName', () => {
  it.each(['X-User-Id', 'x_user_id', 'X_USER-ID', 'Host', 'host', 'ÄÖ_x'])('%s', (name) => {
    expect(canonicalHeaderName(name)).toBe(expected(name));
    // The second time comes from the table: the same answer.
    expect(canonicalHeaderName(name)).toBe(expected(name));
  });

  it('stays right past the table’s bound and for names too long to remember', () => {
    const names = Array.from({ length: 5_000 }, (_, i) => `X_Name_${i}`);
    for (const name of [...names, ...names]) expect(canonicalHeaderName(name)).toBe(expected(name));
    const long = `X_${'Ab_'.repeat(100)}User_Id`;
    expect(canonicalHeaderName(long)).toBe(expected(long));
    expect(canonicalHeaderName(long)).toBe(expected(long));
    expect(canonicalHeaderName('X_User_Id')).toBe('x-user-id');
  });
});

describe('filterRequestHeaders', () => {
  const policy = createRequestHeaderPolicy(['X-Remote-User']);
  const kept = (raw: string[], connection?: string): string[] => {
    const out: string[] = [];
    filterRequestHeaders(raw, connection, policy, false, out);
    return out.filter((_, i) => i % 2 === 0);
  };

  it('drops every header whose canonical name starts with proxy-, in any spelling', () => {
    const names = [
      'Proxy-Foo',
      'PROXY-BAR',
      'proxy_baz',
      'Proxy_Authorization',
      'Proxy-Connection',
      'proxy-',
    ];
    expect(
      kept([...names.flatMap((n) => [n, '1']), 'Proxyish', '2', 'X-Proxy-Kept', '3', 'Accept', '4']),
    ).toEqual(['Proxyish', 'X-Proxy-Kept', 'Accept']);
  });
});
