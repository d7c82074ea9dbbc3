// Request plumbing of the admin API: a tiny path router with 405 + Allow, strict query parsing and
// bounded JSON bodies. Handlers live in admin/routes/*; this module knows nothing about users.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../gateway/errors.js';
import { readJsonObject } from '../gateway/http/json-body.js';

/** Admin bodies are small commands: 64 KiB is far more than a role list needs. */
export const ADMIN_BODY_LIMIT = 64 * 1024;

export interface ApiCall {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** `:name` segments of the matched pattern, as sent (not percent-decoded). */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
}

export type ApiHandler = (call: ApiCall) => Promise<void>;

export interface ApiRoute {
  /** e.g. `/api/users/:id/roles`; `:name` matches one non-empty segment. */
  readonly pattern: string;
  readonly methods: Readonly<Partial<Record<'GET' | 'POST' | 'PUT' | 'DELETE', ApiHandler>>>;
}

interface Compiled {
  readonly segments: readonly string[];
  readonly route: ApiRoute;
  readonly allow: string;
}

export interface ApiRouter {
  /** Runs the handler of the route and method; 404 for an unknown path, 405 with Allow for a method. */
  dispatch(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
}

export function createApiRouter(routes: readonly ApiRoute[]): ApiRouter {
  const compiled: Compiled[] = routes.map((route) => ({
    segments: route.pattern.split('/').slice(1),
    route,
    allow: Object.keys(route.methods).join(', '),
  }));

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
      const method = req.method as keyof ApiRoute['methods'];
      const handler = Object.hasOwn(found.entry.route.methods, method)
        ? found.entry.route.methods[method]
        : undefined;
      if (handler === undefined) {
        throw new GatewayError('method_not_allowed', { headers: { allow: found.entry.allow } });
      }
      const raw = req.url ?? '';
      const at = raw.indexOf('?');
      const query = new URLSearchParams(at < 0 ? '' : raw.slice(at + 1));
      await handler({ req, res, params: found.params, query });
    },
  };
}

/** The query parameters, refusing unknown and repeated ones: a typo must not silently widen a search. */
export function queryValues(query: URLSearchParams, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of query) {
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
  if (!/^\d{1,6}$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new GatewayError('validation_failed', { message: `${name}: must be an integer from 1 to ${max}` });
  }
  return Number(raw);
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** A JSON object body (415 for another type, 413 over 64 KiB, 400 invalid_json). */
export function requireBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (!hasBody(req)) {
    return Promise.reject(new GatewayError('validation_failed', { message: 'a JSON body is required' }));
  }
  return readJsonObject(req, ADMIN_BODY_LIMIT);
}

/**
 * Commands without parameters take no body; one that is sent anyway must still be a JSON object, so a
 * form post or a stray payload is refused rather than ignored.
 */
export async function noBody(req: IncomingMessage): Promise<void> {
  if (!hasBody(req)) return;
  const body = await readJsonObject(req, ADMIN_BODY_LIMIT);
  const extra = Object.keys(body)[0];
  if (extra !== undefined) {
    throw new GatewayError('validation_failed', { message: `${extra}: this action takes no fields` });
  }
}
