// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} is the config syntax under test, not a template
// ${VAR} expansion: the syntax, coercion to numbers and booleans, @generate, and that values can't inject YAML.
import { describe, expect, it } from 'vitest';
import { expandString } from '../../config/expand.js';
import { ConfigError, loadConfigText } from '../../config/index.js';

const SECRET = 'k'.repeat(32);
const noGenerate = (): string => {
  throw new Error('not expected');
};
const BARE = 'has a $ before a name: write ${NAME} to use a variable, or $$ for a literal $';

describe('expandString', () => {
  const env = { HOST: 'db.internal', EMPTY: '', PORT: '5432' };
  it.each([
    ['no variables', 'plain', 'plain'],
    ['one variable', '${HOST}', 'db.internal'],
    ['inside text', 'postgres://${HOST}:${PORT}/x', 'postgres://db.internal:5432/x'],
    ['default when unset', '${NOPE:-fallback}', 'fallback'],
    ['default when empty', '${EMPTY:-fallback}', 'fallback'],
    ['empty default', '${NOPE:-}', ''],
    ['set value wins over default', '${HOST:-fallback}', 'db.internal'],
    ['set but empty without default', '${EMPTY}', ''],
    ['$$ is a literal $', 'pa$$word', 'pa$word'],
    ['$$ before a brace is not a reference', '$${HOST}', '${HOST}'],
    ['a $ not before a name or { stays', 'cost: 5$ and $1, $-x, $', 'cost: 5$ and $1, $-x, $'],
    ['$$ before a name is a literal $', 'pa$$word$$_x', 'pa$word$_x'],
    ['default with a colon', '${NOPE:-redis://r:6379}', 'redis://r:6379'],
  ])('%s', (_name, input, expected) => {
    expect(expandString(input, { env, generate: noGenerate })).toEqual({ ok: true, value: expected });
  });

  it.each([
    ['unset', '${NOPE}', 'environment variable NOPE is not set'],
    ['bad name', '${9X}', 'invalid variable reference ${9X}: use ${NAME} or ${NAME:-default}'],
    ['other operator', '${X:=y}', 'invalid variable reference ${X:=…}: use ${NAME} or ${NAME:-default}'],
    ['unterminated', 'a ${X', 'has an unterminated ${ (write $$ for a literal $)'],
    ['$NAME without braces', '$ADMIN_TOKEN', BARE],
    ['$_name without braces, inside text', 'pass$_word', BARE],
    ['$name after a literal $$', '$$$x', BARE],
    [
      'a reference inside a default',
      '${X:-${HOST}}',
      '${X:-…} has ${ in its default: nested references are not supported',
    ],
    [
      'a reference inside a default, even when X is set',
      'a${HOST:-b${PORT}}',
      '${HOST:-…} has ${ in its default: nested references are not supported',
    ],
  ])('refuses %s', (_name, input, message) => {
    expect(expandString(input, { env, generate: noGenerate })).toEqual({ ok: false, message });
  });
});

describe('a bad reference never echoes its default (it may be a secret)', () => {
  const env = { SECRET_KEY: 'set' };
  it.each([
    ['a dash in the name, then :-', '${SECRET-KEY:-Sup3rSecret}', '${SECRET-…}'],
    ["the shell's - form", '${SECRET_KEY-Sup3rSecret}', '${SECRET_KEY-…}'],
    ["the shell's := form", '${SECRET_KEY:=Sup3rSecret}', '${SECRET_KEY:=…}'],
    ['a space in the name', '${ SECRET_KEY:-Sup3rSecret}', '${ …}'],
    ['a bad name with nothing after it', '${9X}', '${9X}'],
    ['an empty name and a default', '${:-Sup3rSecret}', '${:-…}'],
  ])('%s', (_name, input, shown) => {
    const r = expandString(input, { env, generate: noGenerate });
    expect(r).toEqual({
      ok: false,
      message: `invalid variable reference ${shown}: use \${NAME} or \${NAME:-default}`,
    });
    expect(JSON.stringify(r)).not.toContain('Sup3r');
  });
});

describe('expansion in a config file', () => {
  const load = (text: string, env: NodeJS.ProcessEnv, generatedSecret?: (name: string) => string) =>
    loadConfigText(text, { file: null, dir: '/srv/gw', env, generatedSecret });

  it('turns expanded numbers and booleans into what the schema wants', () => {
    const text = [
      'server: { port: "${PORT:-8080}", workers: "${WORKERS:-1}" }',
      `tokens: { secret: ${SECRET} }`,
      'routes:',
      '  - { name: a, path: /a, upstream: "http://u:${UP_PORT}", websocket: "${WS:-false}", body_limit: "${LIMIT}" }',
    ].join('\n');
    const { config } = load(text, { PORT: '9000', UP_PORT: '3000', WS: 'true', LIMIT: '2048' });
    expect(config.server.port).toBe(9000);
    expect(config.server.workers).toBe(1);
    expect(config.routes[0]).toMatchObject({
      upstream: ['http://u:3000'],
      websocket: true,
      body_limit: 2048,
    });
  });

  it('SECURITY: an env value cannot inject YAML structure', () => {
    const injected = 'portcullis\nadmin:\n  token: attacker-chosen-token-attacker-chosen\nx: {';
    const { config } = load(`tokens:\n  secret: ${SECRET}\n  issuer: \${ISSUER}\n`, { ISSUER: injected });
    expect(config.tokens.issuer).toBe(injected);
    expect(config.admin.token).toBeNull();
  });

  it('SECURITY: an env value cannot add a key either (`a\\nb: c`)', () => {
    const { config } = load(`tokens:\n  secret: ${SECRET}\n  audience: \${AUD}\n`, { AUD: 'a\nb: c' });
    expect(config.tokens.audience).toBe('a\nb: c');
    expect(Object.keys(config.tokens)).not.toContain('b');
  });

  it('keeps line numbers right: expansion happens after parsing', () => {
    const text = `tokens:\n  issuer: \${MULTI}\n  secret: \${MISSING}\n`;
    expect(() => load(text, { MULTI: 'a\nb\nc\nd' })).toThrow(
      new ConfigError([
        { path: 'tokens.secret', message: 'environment variable MISSING is not set', line: 3 },
      ]),
    );
  });

  it('expands values only: keys and comments are left alone', () => {
    const text = `# \${NOT_SET} in a comment is fine\ntokens:\n  secret: ${SECRET}\n\${KEY}: 1\n`;
    expect(() => load(text, { KEY: 'logging' })).toThrow(
      new ConfigError([{ path: '${KEY}', message: 'unknown key', line: 4 }]),
    );
  });

  it('@generate asks the provider, once per variable, and warns where the secret is kept', () => {
    const asked: string[] = [];
    const provider = Object.assign(
      (name: string) => {
        asked.push(name);
        return `${name}-${'g'.repeat(40)}`;
      },
      { file: '/var/lib/portcullis/generated-secrets.json' },
    );
    const text = 'tokens:\n  secret: ${SECRET_KEY:-@generate}\nadmin:\n  token: ${ADMIN_TOKEN:-@generate}\n';
    const loaded = load(text, { ADMIN_TOKEN: '' }, provider);
    expect(asked).toEqual(['SECRET_KEY', 'ADMIN_TOKEN']);
    expect(loaded.config.tokens.secret).toBe(`SECRET_KEY-${'g'.repeat(40)}`);
    expect(loaded.warnings).toEqual([
      'SECRET_KEY is not set: using a generated secret kept in /var/lib/portcullis/generated-secrets.json; set SECRET_KEY in production',
      'ADMIN_TOKEN is not set: using a generated secret kept in /var/lib/portcullis/generated-secrets.json; set ADMIN_TOKEN in production',
    ]);
  });

  it('@generate is not used when the variable is set', () => {
    const loaded = load(
      'tokens:\n  secret: ${SECRET_KEY:-@generate}\n',
      { SECRET_KEY: 's'.repeat(32) },
      noGenerate,
    );
    expect(loaded.config.tokens.secret).toBe('s'.repeat(32));
    expect(loaded.warnings).toEqual([]);
  });

  it('a provider that fails is a problem at that key', () => {
    const failing = (): string => {
      throw new Error('EACCES: permission denied');
    };
    expect(() => load('tokens:\n  secret: ${SECRET_KEY:-@generate}\n', {}, failing)).toThrow(
      'tokens.secret: SECRET_KEY is not set and no secret could be generated: EACCES: permission denied (line 2)',
    );
  });

  it('a production config without the variable refuses to start', () => {
    expect(() => load('tokens:\n  secret: ${SECRET_KEY}\n', {})).toThrow(
      'tokens.secret: environment variable SECRET_KEY is not set (line 2)',
    );
  });
});
