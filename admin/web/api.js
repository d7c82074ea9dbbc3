// The admin API client: the token lives in sessionStorage (this tab only, gone when it closes) and
// travels in the Authorization header, never in a URL, a cookie or a log.

const KEY = 'portcullis-admin-token';

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Called when the gateway answers 401: the token is wrong or was rotated. */
let onUnauthorised = () => undefined;
export function whenUnauthorised(handler) {
  onUnauthorised = handler;
}

export async function api(method, path, body) {
  const secret = token.get();
  if (secret === null) throw new ApiError(401, 'missing_token', 'Not signed in');
  const headers = { authorization: `Bearer ${secret}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
    referrerPolicy: 'no-referrer',
  });
  let json = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  if (!res.ok) {
    if (res.status === 401) onUnauthorised();
    throw new ApiError(res.status, json?.code ?? 'error', json?.message ?? res.statusText);
  }
  return json?.data;
}

/** A query string from the non-empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') q.set(name, String(value));
  }
  const text = q.toString();
  return text === '' ? '' : `?${text}`;
}
