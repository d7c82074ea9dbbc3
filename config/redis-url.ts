// Parses `storage.state` Redis URLs into a plain target description (standalone, Sentinel, Cluster).
// Does not connect and imports no client library: redis-store.ts turns the target into ioredis options.
//
// Accepted forms (reserved characters in user names and passwords must be percent-encoded):
//   redis://[[user:]pass@]host[:port][/db]                            port 6379, db 0 by default
//   rediss://[[user:]pass@]host[:port][/db]                           the same over TLS (system CAs, SNI = host)
//   redis-sentinel://[[user:]pass@]host1[:port],host2[:port]/master[/db][?sentinel_password=…]
//                                                                     sentinel port 26379; the password is the
//                                                                     master's; sentinels get sentinel_password
//   redis-cluster://[[user:]pass@]host1[:port],host2[:port]           seed nodes, port 6379; Cluster has db 0 only
// A user-info part without ':' is the password (as redis-cli reads it). IPv6 hosts go in brackets.
// Error messages never repeat the URL: it may carry a password.

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

interface Auth {
  readonly username: string | undefined;
  readonly password: string | undefined;
}

export type RedisTarget =
  | (Auth & {
      readonly kind: 'standalone';
      readonly node: HostPort;
      readonly db: number;
      readonly tls: boolean;
    })
  | (Auth & {
      readonly kind: 'sentinel';
      readonly sentinels: readonly HostPort[];
      readonly masterName: string;
      readonly db: number;
      readonly sentinelPassword: string | undefined;
    })
  | (Auth & { readonly kind: 'cluster'; readonly nodes: readonly HostPort[] });

const FORMS =
  'redis://[[user:]pass@]host[:port][/db], rediss://…, ' +
  'redis-sentinel://[[user:]pass@]host:port,host:port/master[/db], redis-cluster://[[user:]pass@]host:port,host:port';

function fail(why: string): never {
  throw new Error(`storage.state: ${why}; expected ${FORMS}`);
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return fail(`${what} has a malformed percent-escape`);
  }
}

function parseAuth(userinfo: string | undefined): Auth {
  if (userinfo === undefined) return { username: undefined, password: undefined };
  const colon = userinfo.indexOf(':');
  if (colon === -1) return { username: undefined, password: decode(userinfo, 'the password') };
  const username = decode(userinfo.slice(0, colon), 'the user name');
  return {
    username: username === '' ? undefined : username,
    password: decode(userinfo.slice(colon + 1), 'the password'),
  };
}

function parsePort(text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 1 && port <= 65_535)) fail('a port must be 1-65535');
  return port;
}

function parseHost(item: string, defaultPort: number): HostPort {
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d*))?$/.exec(item);
  if (v6 !== null) return { host: v6[1]!, port: parsePort(v6[2], defaultPort) };
  const plain = /^([A-Za-z0-9._-]+)(?::(\d*))?$/.exec(item);
  if (plain === null) return fail('a host must be name[:port] or [ipv6][:port]');
  return { host: plain[1]!, port: parsePort(plain[2], defaultPort) };
}

function parseHosts(list: string, defaultPort: number, many: boolean): HostPort[] {
  const items = list.split(',');
  if (!many && items.length !== 1) fail('this form takes exactly one host');
  return items.map((item) => parseHost(item, defaultPort));
}

function parseDb(text: string | undefined): number {
  if (text === undefined || text === '') return 0;
  if (!/^\d{1,5}$/.test(text)) fail('the database must be a non-negative integer');
  return Number(text);
}

function parseQuery(query: string | undefined, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  if (query === undefined || query === '') return out;
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    if (!allowed.includes(key)) fail(`unknown URL parameter "${key.slice(0, 40)}"`);
    out.set(key, decode(eq === -1 ? '' : pair.slice(eq + 1), `the ${key} parameter`));
  }
  return out;
}

export function parseRedisUrl(url: string): RedisTarget {
  const m = /^([a-z-]+):\/\/(?:([^@/?#]*)@)?([^/?#]+)(\/[^?#]*)?(?:\?([^#]*))?$/.exec(url);
  if (m === null) return fail('not a URL');
  const [, scheme, userinfo, hosts, path = '', query] = m;
  const auth = parseAuth(userinfo);
  const segments = path.split('/').slice(1);
  switch (scheme) {
    case 'redis':
    case 'rediss': {
      parseQuery(query, []);
      if (segments.length > 1) fail('the path is only /db');
      const [node] = parseHosts(hosts!, 6379, false);
      return { kind: 'standalone', ...auth, node: node!, db: parseDb(segments[0]), tls: scheme === 'rediss' };
    }
    case 'redis-sentinel': {
      const params = parseQuery(query, ['sentinel_password']);
      const [masterName, db, ...rest] = segments;
      if (masterName === undefined || masterName === '' || rest.length > 0)
        fail('the path must be /master[/db]');
      return {
        kind: 'sentinel',
        ...auth,
        sentinels: parseHosts(hosts!, 26_379, true),
        masterName: decode(masterName, 'the master name'),
        db: parseDb(db),
        sentinelPassword: params.get('sentinel_password'),
      };
    }
    case 'redis-cluster': {
      parseQuery(query, []);
      if (segments.length > 1 || !['', '0'].includes(segments[0] ?? '')) fail('Cluster has only db 0');
      return { kind: 'cluster', ...auth, nodes: parseHosts(hosts!, 6379, true) };
    }
    default:
      return fail('unknown scheme');
  }
}
