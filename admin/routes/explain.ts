// Admin API `POST /api/explain {method, url, host?, token?, user_agent?, dpop?}`: what the running gateway
// would decide for that request, check by check, with its live state store (so sessions are checked too).
import { createDpopExplainer } from '../../gateway/auth/dpop.js';
import { GatewayError } from '../../gateway/errors.js';
import { type ExplainInput, explainRequest, isExplainMethod } from '../../gateway/explain.js';
import { sendSuccess } from '../../gateway/http/reply.js';
import type { AdminApiDeps } from '../api.js';
import { type ApiRoute, requireBody } from '../http.js';

function text(
  body: Record<string, unknown>,
  name: string,
  required: boolean,
  max: number,
): string | undefined {
  const v = body[name];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v === '' || v.length > max)
    throw new GatewayError('validation_failed', {
      message: `${name}: must be a string of 1-${max} characters`,
    });
  return v;
}

const FIELDS = new Set(['method', 'url', 'host', 'token', 'user_agent', 'dpop']);

export function explainRoutes(deps: AdminApiDeps): ApiRoute[] {
  return [
    {
      pattern: '/api/explain',
      methods: {
        POST: async ({ req, res }) => {
          const body = await requireBody(req);
          const unknown = Object.keys(body).find((k) => !FIELDS.has(k));
          if (unknown !== undefined)
            throw new GatewayError('validation_failed', { message: `${unknown}: unknown field` });
          const method = text(body, 'method', true, 16)!;
          if (!isExplainMethod(method))
            throw new GatewayError('validation_failed', { message: 'method: must be an HTTP method name' });
          const host = text(body, 'host', false, 300);
          const token = text(body, 'token', false, 8192);
          const userAgent = text(body, 'user_agent', false, 2048);
          const dpop = text(body, 'dpop', false, 8192);
          const input: ExplainInput = {
            method,
            url: text(body, 'url', true, 8192)!,
            ...(host === undefined ? {} : { host }),
            ...(token === undefined ? {} : { token }),
            ...(userAgent === undefined ? {} : { userAgent }),
            ...(dpop === undefined ? {} : { dpop }),
          };
          const state = deps.current();
          const explanation = await explainRequest(input, {
            config: state.config,
            router: state.router,
            tokens: deps.services.tokens,
            state: deps.services.state,
            checkDpop: createDpopExplainer(state.config, deps.services.tokens),
          });
          sendSuccess(res, 200, 'Explanation', explanation);
        },
      },
    },
  ];
}
