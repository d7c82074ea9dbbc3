// The only module that imports `yaml`: parses config text into plain data plus the line of every key path.
// It does not expand variables or validate; a syntax error ends parsing with every YAML problem and its line.
import { type Alias, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { formatPath, type PathSegment } from './config-error.js';

export interface YamlProblem {
  /** The key path the problem is about; absent for a syntax error (reported as `yaml`). */
  readonly path?: string;
  readonly message: string;
  readonly line: number | null;
}

export type YamlResult =
  | { readonly ok: true; readonly value: unknown; readonly lines: ReadonlyMap<string, number> }
  | { readonly ok: false; readonly problems: readonly YamlProblem[] };

// Aliases can multiply a small file into a huge tree ("billion laughs"); a config is never this big.
const MAX_NODES = 100_000;
const MAX_ALIAS_USES = 1_000;
const MAX_DEPTH = 64;
const MERGE_KEY = '<<';
const MERGE_MESSAGE = 'merge keys (<<) are not supported: write the keys out';

class Stop extends Error {}

export function parseYaml(text: string): YamlResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, strict: true, uniqueKeys: true });
  const lineOf = (offset: number | undefined): number | null =>
    offset === undefined ? null : lineCounter.linePos(offset).line;

  const problems: YamlProblem[] = [...doc.errors, ...doc.warnings].map((e) =>
    // The library's wording ("please use YAML.parseAllDocuments()") speaks to programmers, not operators.
    e.code === 'MULTIPLE_DOCS'
      ? { path: 'config', message: 'only one YAML document is allowed', line: lineOf(e.pos[0]) }
      : { message: e.message.split('\n')[0] ?? e.message, line: lineOf(e.pos[0]) },
  );
  // `%YAML 1.1` would switch the library to YAML 1.1 for this file (0100 octal, yes/on booleans): the same
  // text would mean something else than the README says. Other versions are already a warning above.
  if (doc.directives?.yaml.explicit && doc.directives.yaml.version !== '1.2') {
    const directive = /^\uFEFF?%YAML[ \t]/m.exec(text.slice(0, doc.contents?.range?.[0] ?? text.length));
    problems.push({
      path: 'config',
      message: `only YAML 1.2 is supported: remove the %YAML ${doc.directives.yaml.version} directive`,
      line: lineOf(directive?.index),
    });
  }
  if (problems.length > 0) return { ok: false, problems };

  const lines = new Map<string, number>();
  let nodes = 0;
  let aliasUses = 0;
  const resolved = new Map<Alias, Node | undefined>();
  const fail = (message: string, node: Node | null | undefined): never => {
    problems.push({ message, line: lineOf(node?.range?.[0]) });
    throw new Stop();
  };
  const mark = (path: PathSegment[], node: Node | null | undefined): void => {
    const line = lineOf(node?.range?.[0]);
    if (line !== null && !lines.has(formatPath(path))) lines.set(formatPath(path), line);
  };

  const convert = (node: unknown, path: PathSegment[], depth: number): unknown => {
    if (++nodes > MAX_NODES) fail('document is too large', null);
    if (depth > MAX_DEPTH) fail('document is nested too deeply', null);
    if (node === null || node === undefined) return null;
    if (isAlias(node)) {
      if (++aliasUses > MAX_ALIAS_USES) fail('document uses too many aliases', node);
      // resolve() walks the whole document; memoised, a bomb costs one walk per alias, not per use.
      if (!resolved.has(node)) resolved.set(node, node.resolve(doc));
      const target = resolved.get(node);
      if (!target) fail(`unknown alias *${node.source}`, node);
      return convert(target, path, depth + 1);
    }
    if (isScalar(node)) return node.value;
    if (isSeq(node)) {
      return node.items.map((item, i) => {
        mark([...path, i], isAlias(item) || isScalar(item) || isMap(item) || isSeq(item) ? item : null);
        return convert(item, [...path, i], depth + 1);
      });
    }
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        const keyNode = pair.key;
        if (!isScalar(keyNode) || !['string', 'number', 'boolean'].includes(typeof keyNode.value)) {
          fail('keys must be plain strings', isMap(node) ? node : null);
        }
        const key = String((keyNode as { value: unknown }).value);
        if (key === MERGE_KEY) {
          // YAML 1.2 has no merge keys: `<<` would be an unknown key, and the keys it meant to bring
          // would each be reported missing. One message per `<<` instead (an alias reusing it adds none);
          // the schema is not run until they are gone.
          const line = lineOf(isScalar(keyNode) ? keyNode.range?.[0] : undefined);
          if (!problems.some((p) => p.message === MERGE_MESSAGE && p.line === line)) {
            problems.push({ path: formatPath(path) || 'config', message: MERGE_MESSAGE, line });
          }
          continue;
        }
        const keyPath = [...path, key];
        mark(keyPath, isScalar(keyNode) ? keyNode : null);
        const value = convert(pair.value, keyPath, depth + 1);
        // A key with no value (`timeout:`) means "use the default"; its line is kept for messages.
        if (value === null) continue;
        // defineProperty: a `__proto__` key stays a plain (unknown) key instead of swapping the prototype.
        Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    return fail('unsupported YAML node', null);
  };

  try {
    mark([], doc.contents);
    const value = doc.contents === null ? {} : convert(doc.contents, [], 0);
    if (problems.length > 0) return { ok: false, problems };
    return { ok: true, value: value === null ? {} : value, lines };
  } catch (err) {
    if (err instanceof Stop) return { ok: false, problems };
    throw err;
  }
}
