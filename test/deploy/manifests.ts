// Reads the deploy/ examples for their tests: YAML through the config module's own parser (one document
// per file, duplicate keys refused), typed accessors that fail with the path, and ${VAR} discovery.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseYaml } from '../../config/yaml-source.js';

export const ROOT = join(import.meta.dirname, '..', '..');
export const DEPLOY = join(ROOT, 'deploy');

export function readYaml(file: string): unknown {
  const result = parseYaml(readFileSync(file, 'utf8'));
  if (!result.ok) {
    throw new Error(`${file}: ${result.problems.map((p) => `${p.message} (line ${p.line})`).join('; ')}`);
  }
  return result.value;
}

/** `at(doc, 'spec.template.spec.containers.0.name')`: walks maps and lists, throwing with the path when absent. */
export function at(value: unknown, path: string): unknown {
  let here = value;
  for (const key of path.split('.')) {
    if (Array.isArray(here) && /^\d+$/.test(key)) here = here[Number(key)];
    else if (here !== null && typeof here === 'object' && !Array.isArray(here) && Object.hasOwn(here, key)) {
      here = (here as Record<string, unknown>)[key];
    } else {
      throw new Error(`${path}: no "${key}"`);
    }
  }
  return here;
}

export function has(value: unknown, path: string): boolean {
  try {
    at(value, path);
    return true;
  } catch {
    return false;
  }
}

export function record(value: unknown, what = 'value'): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new Error(`${what}: not a mapping`);
  return value as Record<string, unknown>;
}

export function list(value: unknown, what = 'value'): unknown[] {
  if (!Array.isArray(value)) throw new Error(`${what}: not a list`);
  return value;
}

export function str(value: unknown, what = 'value'): string {
  if (typeof value !== 'string') throw new Error(`${what}: not a string`);
  return value;
}

/** The list item whose `name` is `name`. */
export function named(items: unknown, name: string): Record<string, unknown> {
  const found = list(items).find((item) => record(item).name === name);
  if (found === undefined) throw new Error(`no item named ${name}`);
  return record(found);
}

/** ${NAME} references of a gateway.yaml: `required` have no default; `$${…}` is a literal and not counted. */
export function configVariables(text: string): { required: string[]; optional: string[] } {
  const required = new Set<string>();
  const optional = new Set<string>();
  for (const m of text.replaceAll('$$', '').matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g)) {
    (m[2] === undefined ? required : optional).add(m[1] as string);
  }
  return { required: [...required].sort(), optional: [...optional].sort() };
}
