// Which device binding applies where, and how a session records the device it is bound to. Route modes
// are resolved once per config (runtime.ts compiles them into the routes), never per request.
import type { DeviceBindingMode, GatewayConfig, RouteConfig } from '../../config/types.js';
import { userAgentHash } from './user-agent.js';

/** A route's effective mode: its own `device_binding`, else the global `device_binding.mode`. */
export const routeBinding = (config: GatewayConfig, route: RouteConfig): DeviceBindingMode =>
  route.device_binding ?? config.device_binding.mode;

/** True when the gateway takes DPoP proofs at all: the global mode or at least one route is `dpop`. */
export const dpopInUse = (config: GatewayConfig): boolean =>
  config.device_binding.mode === 'dpop' || config.routes.some((r) => r.device_binding === 'dpop');

/**
 * `SessionRecord.device` of a DPoP-bound session. A key thumbprint and a User-Agent hash are both base64url
 * SHA-256 digests: without the prefix a client could choose a User-Agent whose hash is a stolen session's
 * thumbprint and refresh it without the key. A User-Agent hash never contains `:`.
 */
const DPOP_DEVICE = 'dpop:';

export const dpopDevice = (jkt: string): string => `${DPOP_DEVICE}${jkt}`;

/** The binding value of the device presenting a login or refresh: its verified DPoP key, else per `mode`. */
export function presentedDevice(
  mode: DeviceBindingMode,
  meta: { readonly userAgent: string; readonly dpopJkt?: string | null },
): string {
  if (meta.dpopJkt != null) return dpopDevice(meta.dpopJkt);
  return mode === 'user-agent' ? userAgentHash(meta.userAgent) : '';
}

export const isDpopDevice = (device: string): boolean => device.startsWith(DPOP_DEVICE);

/** The access-token claims that carry a session's binding: `cnf.jkt` (RFC 9449 §6), `dev`, or none. */
export function deviceClaims(
  device: string,
): { readonly cnf: { readonly jkt: string } } | { readonly dev: string } | Record<string, never> {
  if (device === '') return {};
  return isDpopDevice(device) ? { cnf: { jkt: device.slice(DPOP_DEVICE.length) } } : { dev: device };
}
