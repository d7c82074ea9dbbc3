// Request plumbing of the admin API: a tiny path router with 405 + Allow (HEAD served by GET), the query
// parameters each endpoint declares checked in one place, and bounded JSON bodies. Handlers live in
// admin/routes/*; this module knows nothing about users.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseCount } from '../config/units.js';
import { GatewayError } from '../gateway/errors.js';
import { carriesBody, readJsonObject } from '../gateway/http/json-body.js';

/** Admin bodies are small commands: 64 KiB is far more than a role list needs. */
export const ADMIN_BODY_LIMIT = 64 * 1024;

export interface ApiCall {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** `:name` segments of the matched pattern, as sent (not percent-decoded). */
  readonly params: Readonly<Record<string, string>>;
  /** The query parameters, already checked against the endpoint's declared `query`: each at most once. */
  readonly query: ReadonlyMap<string, string>;
}

export type ApiHandler = (call: ApiCall) => Promise<void>;

/** An endpoint that takes query parameters names them; a bare handler takes none. */
export interface ApiEndpoint {
  readonly query: readonly string[];
  readonly handle: ApiHandler;
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface ApiRoute {
  /** e.g. `/api/users/:id/roles`; `:name` matches one non-empty segment. */
  readonly pattern: string;
  readonly methods: Readonly<Partial<Record<Method, ApiHandler | ApiEndpoint>>>;
}

interface Compiled {
  readonly segments: readonly string[];
  readonly endpoints: ReadonlyMap<string, ApiEndpoint>;
  readonly allow: string;
}

const NO_QUERY: readonly string[] = [];

/** The endpoints of a route by method, HEAD added beside GET: RFC 9110 §9.3.2, GET without the body. */
function compile(route: ApiRoute): Compiled {
  const endpoints = new Map<string, ApiEndpoint>();
  for (const [method, entry] of Object.entries(route.methods)) {
    const endpoint = typeof entry === 'function' ? { query: NO_QUERY, handle: entry } : entry;
    endpoints.set(method, endpoint);
    // Node writes no body for a HEAD request whatever the handler passes to end().
    if (method === 'GET') endpoints.set('HEAD', endpoint);
  }
  return { segments: route.pattern.split('/').slice(1), endpoints, allow: [...endpoints.keys()].join(', ') };
}

export interface ApiRouter {
  /** Runs the handler of the route and method; 404 for an unknown path, 405 with Allow for a method. */
  dispatch(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
}

export function createApiRouter(routes: readonly ApiRoute[]): ApiRouter {
  const compiled = routes.map(compile);

  function match(path: string): { entry: Compiled; params: Record<string, string> } | null {
    const parts = path.split('/').slice(1);
    for (const entry of compiled) {
      if (entry.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const want = entry.segments[i]!;
        const got = parts[i]!;
        if (want.startsWith(':')) {
          if (got === '') ok = false;
          else params[want.slice(1)] = got;
        } else if (want !== got) ok = false;
      }
      if (ok) return { entry, params };
    }
    return null;
  }

  return {
    async dispatch(req, res, path) {
      const found = match(path);
      if (found === null) throw new GatewayError('not_found');
      const endpoint = found.entry.endpoints.get(req.method ?? '');
      if (endpoint === undefined) {
        throw new GatewayError('method_not_allowed', { headers: { allow: found.entry.allow } });
      }
      // Checked before the handler runs: an action with a stray parameter is refused, never half done.
      const query = queryValues(req.url ?? '', endpoint.query);
      await endpoint.handle({ req, res, params: found.params, query });
    },
  };
}

/**
 * The query parameters of a request target, refusing unknown and repeated ones: a typo must not silently
 * widen a search, and an endpoint that takes none must not look as if it honoured one.
 */
function queryValues(target: string, allowed: readonly string[]): Map<string, string> {
  const at = target.indexOf('?');
  const out = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(at < 0 ? '' : target.slice(at + 1))) {
    if (!allowed.includes(name)) {
      throw new GatewayError('validation_failed', { message: `${name}: unknown query parameter` });
    }
    if (out.has(name)) throw new GatewayError('validation_failed', { message: `${name}: given twice` });
    if (value.length > 256) {
      throw new GatewayError('validation_failed', { message: `${name}: at most 256 characters` });
    }
    out.set(name, value);
  }
  return out;
}

export function intValue(raw: string | undefined, name: string, fallback: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = parseCount(raw, max);
  if (n === null) {
    throw new GatewayError('validation_failed', { message: `${name}: must be an integer from 1 to ${max}` });
  }
  return n;
}

/** A JSON object body (415 for another type, 413 over 64 KiB, 400 invalid_json). */
export function requireBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (!carriesBody(req)) {
    return Promise.reject(new GatewayError('validation_failed', { message: 'a JSON body is required' }));
  }
  return readJsonObject(req, ADMIN_BODY_LIMIT);
}

/**
 * Commands without parameters take no body; one that is sent anyway must still be a JSON object, so a
 * form post or a stray payload is refused rather than ignored.
 */
export async function noBody(req: IncomingMessage): Promise<void> {
  if (!carriesBody(req)) return;
  const body = await readJsonObject(req, ADMIN_BODY_LIMIT);
  const extra = Object.keys(body)[0];
  if (extra !== undefined) {
    throw new GatewayError('validation_failed', { message: `${extra}: this action takes no fields` });
  }
}
