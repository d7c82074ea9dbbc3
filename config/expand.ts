// Expands `${VAR}`, `${VAR:-default}` and `$$` in the string values of an already parsed config tree.
// It never touches the raw text, so an env value can't inject YAML structure; it does not validate types.

import type { PathSegment } from './config-error.js';

export interface PathProblem {
  readonly path: readonly PathSegment[];
  readonly message: string;
}

export interface ExpandContext {
  readonly env: NodeJS.ProcessEnv;
  /** Called for `${VAR:-@generate}` when VAR is unset or empty; returns the secret to use. May throw. */
  readonly generate: (varName: string) => string;
}

export type ExpandResult = { ok: true; value: string } | { ok: false; message: string };

/** The default that asks for a secret generated once and kept in the data folder. */
export const GENERATE_DEFAULT = '@generate';

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SHOWN_RE = /^([A-Za-z0-9_]*)([-:=?+#%/]+)?/;

/**
 * A bad reference as the message shows it: its name part and the operator after it (`${KEY-…}`,
 * `${KEY:=…}`), never what follows, which is a default under `:-`, the shell's `-` or `:=`: maybe a secret.
 */
function shownReference(body: string): string {
  const m = SHOWN_RE.exec(body);
  const name = m?.[1] ?? '';
  const cut = m?.[2] ?? [...body.slice(name.length)][0] ?? '';
  const shown = `${name}${cut}`;
  return `\${${shown}${shown.length < body.length ? '…' : ''}}`;
}

function resolveReference(body: string, ctx: ExpandContext): ExpandResult {
  const sep = body.indexOf(':-');
  const name = sep === -1 ? body : body.slice(0, sep);
  if (!NAME_RE.test(name)) {
    return {
      ok: false,
      message: `invalid variable reference ${shownReference(body)}: use \${NAME} or \${NAME:-default}`,
    };
  }
  const value = ctx.env[name];
  if (sep === -1) {
    return value === undefined
      ? { ok: false, message: `environment variable ${name} is not set` }
      : { ok: true, value };
  }
  const fallback = body.slice(sep + 2);
  // The reference ends at the first `}`: `${A:-${B}}` would silently yield the text "${B}" (plus a stray
  // `}`). Refused whether or not A is set, so a file's meaning never depends on the environment. The
  // default is not echoed: it may be a secret.
  if (fallback.includes('${')) {
    return {
      ok: false,
      message: `\${${name}:-…} has \${ in its default: nested references are not supported`,
    };
  }
  // Like the shell's `:-`: an empty variable counts as unset, so `SECRET_KEY=` can't mean "no secret".
  if (value !== undefined && value !== '') return { ok: true, value };
  if (fallback !== GENERATE_DEFAULT) return { ok: true, value: fallback };
  try {
    return { ok: true, value: ctx.generate(name) };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { ok: false, message: `${name} is not set and no secret could be generated: ${reason}` };
  }
}

const BARE_NAME_START_RE = /[A-Za-z_]/;

/**
 * Expands one string. `$NAME` without braces is refused: kept as text, `token: $ADMIN_TOKEN` would be the
 * guessable string "$ADMIN_TOKEN". Any other `$` (`5$`, `$1`, a `$` at the end) stays literal.
 */
export function expandString(text: string, ctx: ExpandContext): ExpandResult {
  if (!text.includes('$')) return { ok: true, value: text };
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar === -1) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      i = dollar + 2;
    } else if (next === '{') {
      const close = text.indexOf('}', dollar + 2);
      if (close === -1) return { ok: false, message: 'has an unterminated ${ (write $$ for a literal $)' };
      const resolved = resolveReference(text.slice(dollar + 2, close), ctx);
      if (!resolved.ok) return resolved;
      out += resolved.value;
      i = close + 1;
    } else if (next !== undefined && BARE_NAME_START_RE.test(next)) {
      // The name is not echoed: `pa$sword` is more likely a literal secret than a reference.
      return {
        ok: false,
        message: `has a $ before a name: write \${NAME} to use a variable, or $$ for a literal $`,
      };
    } else {
      out += '$';
      i = dollar + 1;
    }
  }
  return { ok: true, value: out };
}

/**
 * Returns a copy of `tree` with every string value expanded. A value that fails is left out
 * (undefined) and reported at its path, so the schema's "is required" does not repeat it.
 */
export function expandTree(tree: unknown, ctx: ExpandContext): { value: unknown; problems: PathProblem[] } {
  const problems: PathProblem[] = [];
  const walk = (node: unknown, path: PathSegment[]): unknown => {
    if (typeof node === 'string') {
      const r = expandString(node, ctx);
      if (r.ok) return r.value;
      problems.push({ path, message: r.message });
      return undefined;
    }
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(node)) {
        const expanded = walk(value, [...path, key]);
        // defineProperty: a `__proto__` key stays a plain (unknown) key instead of swapping the prototype.
        if (expanded !== undefined)
          Object.defineProperty(out, key, {
            value: expanded,
            enumerable: true,
            writable: true,
            configurable: true,
          });
      }
      return out;
    }
    return node;
  };
  return { value: walk(tree, []), problems };
}
