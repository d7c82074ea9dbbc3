// Compiles routes into a segment trie at start-up and picks one route per request (host, method, canonical path).
// It does not canonicalise targets (canonical-path.ts), check auth or forward: it only decides which route, or 404/405.
//
// Precedence, exactly: walk the trie along the request's decoded segments; at each prefix, the routes that apply are
// those whose `host` equals the request host if there are any, else the host-less ones. The DEEPEST prefix with
// applicable routes wins, so a longer host-less prefix beats a shorter host-specific one. Within that winning set
// the method decides: an explicit method, else HEAD served by the GET route, else the route with `methods: null`.
// If none allows the method: 405 with `Allow` for that set. The router never falls back to a shorter prefix, nor
// from host-specific to host-less routes at the same prefix: either would let a method dodge the stricter route.

import type { RouteConfig } from '../../config/types.js';
import { GatewayError } from '../errors.js';
import { type ParsedTarget, parseTarget } from './canonical-path.js';
import { normalizeHost } from './host.js';

export interface RouteEntry {
  readonly config: RouteConfig;
}

export interface RouteMatch<T extends RouteEntry> {
  readonly entry: T;
  /** Raw path after strip_prefix (an exact match strips to '/') + query, bytes as the client sent them. */
  readonly forwardPath: string;
}

export interface Router<T extends RouteEntry> {
  /** `host` is the Host header (raw or already normalised). Throws route_not_found, method_not_allowed, bad_request. */
  match(host: string, method: string, target: ParsedTarget): RouteMatch<T>;
}

interface Group<T> {
  readonly depth: number; // route path segments: how many raw segments strip_prefix removes
  readonly byMethod: ReadonlyMap<string, T>;
  readonly anyMethod: T | undefined;
  readonly allowHeaders: Readonly<Record<string, string>>;
}

interface TrieNode<T> {
  readonly children: Map<string, TrieNode<T>>;
  readonly byHost: Map<string, Group<T>>;
  anyHost: Group<T> | undefined;
}

interface CompiledRoute<T> {
  readonly entry: T;
  readonly index: number;
  readonly segments: readonly string[];
  readonly host: string | null;
}

/** Decoded segments of a route's path, as a request for that path would decode ('/' → []). */
function routeSegments(path: string): readonly string[] {
  let parsed: ParsedTarget;
  try {
    // Config paths may hold raw Unicode (`/shop/€`); percent-encode it so it compiles exactly like a request does.
    parsed = parseTarget(path.replace(/[^\p{ASCII}]+/gu, encodeURIComponent));
  } catch {
    throw new Error(
      'is not a canonical path (dot segments, "//", ";", "\\", controls, encoded "/" "\\" "%")',
    );
  }
  if (parsed.query !== '') throw new Error('must not contain "?"');
  if (path === '/') return [];
  if (parsed.segments.includes('')) throw new Error('must not end with "/"');
  return parsed.segments;
}

function compile<T extends RouteEntry>(
  entries: readonly T[],
): { routes: CompiledRoute<T>[]; problems: string[] } {
  const routes: CompiledRoute<T>[] = [];
  const problems: string[] = [];
  entries.forEach((entry, index) => {
    const { path, host } = entry.config;
    let segments: readonly string[] = [];
    let normalHost: string | null = null;
    try {
      segments = routeSegments(path);
    } catch (err) {
      problems.push(`routes[${index}].path: ${(err as Error).message}`);
      return;
    }
    try {
      normalHost = host === null ? null : normalizeHost(host);
    } catch {
      problems.push(`routes[${index}].host: is not a valid host name`);
      return;
    }
    routes.push({ entry, index, segments, host: normalHost });
  });
  return { routes, problems };
}

function groupKey(route: CompiledRoute<unknown>): string {
  // Decoded segments never contain '/' (encoded slashes are refused), so the join is unambiguous.
  return `${route.host ?? ''}\u0000${route.segments.join('/')}`;
}

/**
 * Every problem that would make routing ambiguous: a path that is not canonical, or two routes with the same
 * path and host whose methods overlap (the "ties are a config error"). Empty when the routes compile.
 */
export function checkRoutes(routes: readonly RouteConfig[]): string[] {
  const { routes: compiled, problems } = compile(routes.map((config) => ({ config })));
  const seen = new Map<string, CompiledRoute<RouteEntry>[]>();
  for (const route of compiled) {
    const key = groupKey(route);
    const earlier = seen.get(key) ?? [];
    for (const other of earlier) {
      const overlap = overlappingMethod(other.entry.config.methods, route.entry.config.methods);
      if (overlap !== null) {
        problems.push(
          `routes[${route.index}] (${route.entry.config.name}): same path, host and method ${overlap} ` +
            `as routes[${other.index}] (${other.entry.config.name})`,
        );
      }
    }
    earlier.push(route);
    seen.set(key, earlier);
  }
  return problems;
}

function overlappingMethod(a: readonly string[] | null, b: readonly string[] | null): string | null {
  if (a === null) return b === null ? 'any' : (b[0] ?? 'any');
  if (b === null) return a[0] ?? 'any';
  return a.find((m) => b.includes(m)) ?? null;
}

function buildGroup<T extends RouteEntry>(members: readonly CompiledRoute<T>[]): Group<T> {
  const byMethod = new Map<string, T>();
  let anyMethod: T | undefined;
  const allow: string[] = [];
  for (const { entry } of members) {
    const methods = entry.config.methods;
    if (methods === null) {
      anyMethod = entry;
      continue;
    }
    for (const method of methods) {
      byMethod.set(method, entry);
      if (!allow.includes(method)) allow.push(method);
    }
  }
  // RFC 9110 §9.3.2: HEAD is GET without the body, so a GET route serves it unless a route claims HEAD itself.
  const get = byMethod.get('GET');
  if (get !== undefined && !byMethod.has('HEAD')) {
    byMethod.set('HEAD', get);
    allow.splice(allow.indexOf('GET') + 1, 0, 'HEAD');
  }
  return {
    depth: members[0]!.segments.length,
    byMethod,
    anyMethod,
    allowHeaders: Object.freeze({ Allow: allow.join(', ') }),
  };
}

export function createRouter<T extends RouteEntry>(entries: readonly T[]): Router<T> {
  const problems = checkRoutes(entries.map((entry) => entry.config));
  if (problems.length > 0) throw new Error(`invalid routes:\n${problems.join('\n')}`);

  const members = new Map<string, CompiledRoute<T>[]>();
  for (const route of compile(entries).routes) {
    const key = groupKey(route);
    const list = members.get(key);
    if (list === undefined) members.set(key, [route]);
    else list.push(route);
  }

  const root: TrieNode<T> = { children: new Map(), byHost: new Map(), anyHost: undefined };
  for (const group of members.values()) {
    const first = group[0]!;
    let node = root;
    for (const segment of first.segments) {
      let child = node.children.get(segment);
      if (child === undefined) {
        child = { children: new Map(), byHost: new Map(), anyHost: undefined };
        node.children.set(segment, child);
      }
      node = child;
    }
    if (first.host === null) node.anyHost = buildGroup(group);
    else node.byHost.set(first.host, buildGroup(group));
  }

  return {
    match(host: string, method: string, target: ParsedTarget): RouteMatch<T> {
      const requestHost = normalizeHost(host);
      const segments = target.segments;
      let node = root;
      let best = applicable(root, requestHost);
      for (let i = 0; i < segments.length; i++) {
        const next = node.children.get(segments[i]!);
        if (next === undefined) break;
        node = next;
        const group = applicable(node, requestHost);
        if (group !== undefined) best = group;
      }
      if (best === undefined) throw new GatewayError('route_not_found');
      const entry = best.byMethod.get(method) ?? best.anyMethod;
      if (entry === undefined) throw new GatewayError('method_not_allowed', { headers: best.allowHeaders });
      const path = entry.config.strip_prefix ? stripPrefix(target.rawPath, best.depth) : target.rawPath;
      return { entry, forwardPath: target.query === '' ? path : path + target.query };
    },
  };
}

function applicable<T>(node: TrieNode<T>, host: string): Group<T> | undefined {
  return node.byHost.size === 0 ? node.anyHost : (node.byHost.get(host) ?? node.anyHost);
}

// Raw and decoded segments are 1:1 (encoded '/' is refused), so the prefix is `depth` raw segments.
function stripPrefix(rawPath: string, depth: number): string {
  let pos = 0;
  for (let n = 0; n < depth; n++) {
    pos = rawPath.indexOf('/', pos + 1);
    if (pos === -1) return '/';
  }
  return rawPath.slice(pos);
}
