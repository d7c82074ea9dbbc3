// Compiles routes into a segment trie at start-up and picks one route per request (host, method, canonical path).
// It does not canonicalise targets (canonical-path.ts), check auth or forward: it only decides which route, or 404/405.
//
// Precedence, exactly: walk the trie along the request's decoded segments; at each prefix, the routes that apply are
// those whose `host` equals the request host if there are any, else the host-less ones. The DEEPEST prefix with
// applicable routes wins, so a longer host-less prefix beats a shorter host-specific one. Within that winning set
// the method decides: an explicit method, else HEAD served by the GET route, else the route with `methods: null`.
// If none allows the method: 405 with `Allow` for that set. The router never falls back to a shorter prefix, nor
// from host-specific to host-less routes at the same prefix: either would let a method dodge the stricter route.
// An `exact` route applies only at its own path (a trailing '/' allowed), never below it. A reserved path (the
// gateway's own: auth.base_path...) is 404 at and below it unless a deeper route there applies: a walk that
// passes it never falls back to a shorter prefix, so a catch-all route can never receive what is under it.

import type { RouteConfig } from '../../config/types.js';
import { GatewayError } from '../errors.js';
import { type ParsedTarget, parseTarget } from './canonical-path.js';
import { normalizeHost } from './host.js';

export interface RouteEntry {
  readonly config: RouteConfig;
  /** Matches its own path only (a trailing '/' allowed), never below it. Default: a prefix match. */
  readonly exact?: boolean;
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
  /** The members that also match below the path: the group itself unless some are exact; undefined if none. */
  below: Group<T> | undefined;
}

interface TrieNode<T> {
  readonly children: Map<string, TrieNode<T>>;
  readonly byHost: Map<string, Group<T>>;
  anyHost: Group<T> | undefined;
  /** A reserved path ends here: this node and everything below it are 404 where no group applies. */
  reserved: boolean;
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
  const group = methodGroup(members);
  const open = members.filter((m) => m.entry.exact !== true);
  group.below = open.length === members.length ? group : open.length === 0 ? undefined : buildGroup(open);
  return group;
}

function methodGroup<T extends RouteEntry>(members: readonly CompiledRoute<T>[]): Group<T> {
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
    below: undefined,
  };
}

function newNode<T>(): TrieNode<T> {
  return { children: new Map(), byHost: new Map(), anyHost: undefined, reserved: false };
}

/** The node of `segments`, created (with its ancestors) when missing. */
function nodeAt<T>(root: TrieNode<T>, segments: readonly string[]): TrieNode<T> {
  let node = root;
  for (const segment of segments) {
    let child = node.children.get(segment);
    if (child === undefined) {
      child = newNode<T>();
      node.children.set(segment, child);
    }
    node = child;
  }
  return node;
}

/**
 * `reserved`: paths the caller answers itself (its routes there are `exact` or take their own sub-paths);
 * at and below each, a request no route there takes is 404, whatever shorter prefix would match it.
 */
export function createRouter<T extends RouteEntry>(
  entries: readonly T[],
  reserved: readonly string[] = [],
): Router<T> {
  const problems = checkRoutes(entries.map((entry) => entry.config));
  if (problems.length > 0) throw new Error(`invalid routes:\n${problems.join('\n')}`);

  const members = new Map<string, CompiledRoute<T>[]>();
  for (const route of compile(entries).routes) {
    const key = groupKey(route);
    const list = members.get(key);
    if (list === undefined) members.set(key, [route]);
    else list.push(route);
  }

  const root = newNode<T>();
  for (const group of members.values()) {
    const first = group[0]!;
    const node = nodeAt(root, first.segments);
    if (first.host === null) node.anyHost = buildGroup(group);
    else node.byHost.set(first.host, buildGroup(group));
  }
  for (const path of reserved) {
    let segments: readonly string[];
    try {
      segments = routeSegments(path);
    } catch (err) {
      throw new Error(`reserved path ${path} ${(err as Error).message}`);
    }
    if (segments.length === 0) throw new Error('reserved path / would reserve every path');
    nodeAt(root, segments).reserved = true;
  }

  return {
    match(host: string, method: string, target: ParsedTarget): RouteMatch<T> {
      const requestHost = normalizeHost(host);
      const segments = target.segments;
      // The index of the segment that names the resource: a trailing '/' (an empty last segment) names
      // its parent's. -1 for '/'. Exact routes apply only at that depth.
      const last = segments[segments.length - 1] === '' ? segments.length - 2 : segments.length - 1;
      let node = root;
      let best = applicable(root, requestHost, last === -1);
      let denied = false;
      for (let i = 0; i < segments.length; i++) {
        const next = node.children.get(segments[i]!);
        if (next === undefined) break;
        node = next;
        const group = applicable(node, requestHost, i >= last);
        if (group !== undefined) {
          best = group;
          denied = false;
        } else if (node.reserved) {
          denied = true;
        }
      }
      if (best === undefined || denied) throw new GatewayError('route_not_found');
      const entry = best.byMethod.get(method) ?? best.anyMethod;
      if (entry === undefined) throw new GatewayError('method_not_allowed', { headers: best.allowHeaders });
      const path = entry.config.strip_prefix ? stripPrefix(target.rawPath, best.depth) : target.rawPath;
      return { entry, forwardPath: target.query === '' ? path : path + target.query };
    },
  };
}

/** The group that applies at `node`: at the resource's own depth (`atEnd`) all its routes, above it those that match below. */
function applicable<T>(node: TrieNode<T>, host: string, atEnd: boolean): Group<T> | undefined {
  const group = node.byHost.size === 0 ? node.anyHost : (node.byHost.get(host) ?? node.anyHost);
  return atEnd || group === undefined ? group : group.below;
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
