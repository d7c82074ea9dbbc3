// The config module's public face: load and validate a gateway.yaml, the types, units and check-config.
// It re-exports only; the loader, schema and rules live in their own files.
export { defaultConfigFile, runCheckConfig } from './check.js';
export { ConfigError, type ConfigProblem, formatProblem } from './config-error.js';
export { DEFAULTS } from './defaults.js';
export {
  type LoadOptions,
  type LoadTextOptions,
  loadConfigFile,
  loadConfigText,
  PLACEHOLDER_SECRET,
  readConfigFile,
} from './load.js';
export { JWKS_PATH, listenersOf } from './rules.js';
export { createSecretFileProvider, GENERATED_SECRETS_FILE, type GeneratedSecretProvider } from './secrets.js';
export type * from './types.js';
export { formatDuration, parseDuration, parseRate, parseSize, UNIT_MESSAGES } from './units.js';
export { canonicalHeader } from './values.js';
