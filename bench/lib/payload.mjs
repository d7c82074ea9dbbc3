// The upstream's answer, shared by the node:http and nginx upstreams so every contender's
// correctness check can compare bytes. It is only data: no server lives here.

/** About 100 bytes of JSON, no characters that nginx's `return` would treat as variables. */
export const PAYLOAD = JSON.stringify({
  ok: true,
  service: 'bench-upstream',
  items: [1, 2, 3, 4, 5],
  note: 'a small JSON answer of about 100 bytes',
});

/**
 * The path at which both upstreams answer with the X-User-Id header they received (empty when none):
 * how the correctness checks see the identity a proxy injected.
 */
export const IDENTITY_PATH = '/__bench/identity';
