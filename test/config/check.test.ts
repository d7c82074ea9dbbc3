// `portcullis check-config`: exit codes, the problems on stderr, the route summary on stdout.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { defaultConfigFile, runCheckConfig } from '../../config/index.js';
import { generateKeyPem, keyFileProblems } from '../../gateway/auth/keys.js';

const EXAMPLE = new URL('../../gateway.yaml.example', import.meta.url).pathname;
const SECRET = 'k'.repeat(32);

function sink(): Writable & { text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  return Object.assign(stream, { text: () => Buffer.concat(chunks).toString('utf8') });
}

function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = sink();
  const stderr = sink();
  // As the CLI runs it: with the key-file checks from gateway/.
  const code = runCheckConfig(argv, { stdout, stderr }, env, keyFileProblems);
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

function writeConfig(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'portcullis-check-')), 'gateway.yaml');
  writeFileSync(file, text);
  return file;
}

describe('runCheckConfig', () => {
  it('exits 0 on the example and prints its warnings and routes', () => {
    const r = run(['--config', EXAMPLE]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines.filter((l) => l.startsWith('warning: '))).toHaveLength(2);
    expect(lines).toContain(`${EXAMPLE}: OK, 2 routes`);
    expect(lines).toContain('NAME         HOST  PATH          METHODS  AUTH      DEVICE      UPSTREAMS');
    expect(lines).toContain(
      'echo         *     /api/echo     *        optional  user-agent  http://127.0.0.1:8081',
    );
    expect(lines).toContain(
      'echo-public  *     /public/echo  *        public    user-agent  http://127.0.0.1:8081',
    );
  });

  it('prints the exact summary, with store passwords hidden', () => {
    const key = join(mkdtempSync(join(tmpdir(), 'portcullis-check-key-')), 'assertion.pem');
    writeFileSync(key, generateKeyPem('EdDSA'));
    const file = writeConfig(
      [
        'server: { port: 8000, workers: 2 }',
        'admin: { token: "" }',
        'storage: { users: "postgres://gw:hunter2@db:5432/gw", state: "redis://:s3cret@cache:6379/0" }',
        `identity_headers: { assertion_key_file: "${key}" }`,
        `tokens: { secret: ${SECRET} }`,
        'routes:',
        '  - { name: orders, path: /api/orders, methods: [GET, POST], host: shop.example.com, upstream: ["http://a:1", "http://b:2"] }',
        '  - { name: pay, path: /api/pay, upstream: "http://c:3", device_binding: dpop }',
      ].join('\n'),
    );
    const r = run(['check-config', `--config=${file}`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        `${file}: OK, 2 routes`,
        'listen:  0.0.0.0:8000 (admin 127.0.0.1:9090, admin API off)',
        'storage: users postgres://gw:***@db:5432/gw, state redis://:***@cache:6379/0',
        'tokens:  HS256, device binding user-agent',
        '',
        'NAME    HOST              PATH         METHODS   AUTH      DEVICE      UPSTREAMS',
        'orders  shop.example.com  /api/orders  GET,POST  required  user-agent  http://a:1, http://b:2',
        'pay     *                 /api/pay     *         required  dpop        http://c:3',
        '',
      ].join('\n'),
    );
    expect(r.stdout).not.toContain('hunter2');
    expect(r.stdout).not.toContain('s3cret');
  });

  it('exits 1 and prints every problem to stderr', () => {
    const file = writeConfig('server:\n  prot: 1\n  workers: 2\n');
    const r = run(['--config', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      [
        `${file}: 3 problems`,
        'server.prot: unknown key (line 2)',
        'server.workers: workers > 1 needs shared storage, not storage.state: memory and storage.users: sqlite: ' +
          'use a redis:// URL for storage.state and a postgres:// URL for storage.users (line 3)',
        'tokens.secret: is required when tokens.algorithm is HS256',
        '',
      ].join('\n'),
    );
  });

  it('uses the environment it is given', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: config syntax
    const file = writeConfig('tokens:\n  secret: ${SECRET_KEY}\n');
    expect(run(['--config', file], {}).code).toBe(1);
    expect(run(['--config', file], { SECRET_KEY: SECRET }).code).toBe(0);
  });

  it('refuses a brute_force.cooloff beyond 24d (a timer that long fires at once) and accepts 24d', () => {
    const config = (cooloff: string) =>
      writeConfig(`tokens:\n  secret: ${SECRET}\nbrute_force:\n  cooloff: ${cooloff}\n`);
    const tooLong = config('30d');
    const r = run(['--config', tooLong]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${tooLong}: 1 problem\nbrute_force.cooloff: must be at most 24d (line 4)\n`);
    expect(run(['--config', config('577h')]).stderr).toContain('brute_force.cooloff: must be at most 24d');
    expect(run(['--config', config('24d')]).code).toBe(0);
    expect(run(['--config', config('576h')]).code).toBe(0);
  });

  it('accepts an explicit %YAML 1.2 directive', () => {
    const file = writeConfig(`%YAML 1.2\n---\ntokens:\n  secret: ${SECRET}\n`);
    expect(run(['--config', file]).code).toBe(0);
  });

  it('exits 1 when the file cannot be read', () => {
    const missing = join(tmpdir(), 'portcullis-missing', 'nope.yaml');
    const r = run(['--config', missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${missing}: 1 problem\n${missing}: cannot read the config file (ENOENT)\n`);
  });

  it('exits 1 on a file that is not valid UTF-8, naming the line of the first bad byte', () => {
    const file = writeConfig('');
    writeFileSync(
      file,
      Buffer.concat([
        Buffer.from(`tokens:\n  secret: ${SECRET}\n  issuer: "`),
        Buffer.from([0xe9, 0x74, 0xe9]),
        Buffer.from('"\n'),
      ]),
    );
    const r = run(['--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${file}: 1 problem\nconfig: file is not valid UTF-8 (line 3)\n`);
  });

  it.each([
    [['--config'], '--config needs a value'],
    [['--verbose'], 'unknown option --verbose'],
    [['extra.yaml'], 'unexpected argument extra.yaml'],
    [['--config', 'a.yaml', '--config', 'b.yaml'], '--config is given twice'],
  ])('exits 2 on bad arguments %j, with one line and the usage', (argv, message) => {
    const r = run(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `portcullis check-config: ${message}\nusage: portcullis check-config [--config FILE]\n`,
    );
  });

  it.each([[['--help']], [['-h']]])('prints the usage and exits 0 on %j', (argv) => {
    const r = run(argv);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('usage: portcullis check-config [--config FILE]\n');
  });
});

describe('runCheckConfig: key files', () => {
  it('exits 1 on a missing key file, one of the wrong kind or one that is no key, as a start would', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-check-keys-'));
    const ec = join(dir, 'ec.pem');
    writeFileSync(ec, generateKeyPem('ES256'));
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a key');
    const missing = join(dir, 'missing.pem');
    const file = writeConfig(
      `tokens: { algorithm: EdDSA, private_key_file: "${missing}" }\n` +
        `identity_headers: { assertion_key_file: "${ec}" }\n`,
    );
    const r = run(['--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `${file}: 2 problems\n` +
        `tokens.private_key_file (${missing}): file not found; create it with \`portcullis keygen\`\n` +
        `identity_headers.assertion_key_file (${ec}): holds ec (prime256v1) key; EdDSA needs an Ed25519 key\n`,
    );
    const other = writeConfig(`tokens: { algorithm: ES256, private_key_file: "${garbage}" }\n`);
    expect(run(['--config', other]).stderr).toContain(
      `tokens.private_key_file (${garbage}): not a PKCS#8 PEM private key`,
    );
    const good = writeConfig(`tokens: { algorithm: ES256, private_key_file: "${ec}" }\n`);
    expect(run(['--config', good]).code).toBe(0);
  });

  it('checks a *.previous.pem beside a key, and refuses one key for access tokens and assertions (start refused both, check-config said OK)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-check-previous-'));
    const access = join(dir, 'access.pem');
    writeFileSync(access, generateKeyPem('EdDSA'));
    const assertion = join(dir, 'assertion.pem');
    writeFileSync(assertion, generateKeyPem('EdDSA'));
    writeFileSync(join(dir, 'assertion.previous.pem'), 'garbage');
    const file = writeConfig(
      `tokens: { algorithm: EdDSA, private_key_file: "${access}" }\n` +
        `identity_headers: { assertion_key_file: "${assertion}" }\n`,
    );
    const broken = run(['--config', file]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain(
      `previous assertion key (${join(dir, 'assertion.previous.pem')}): not a PKCS#8 PEM private key`,
    );
    writeFileSync(join(dir, 'assertion.previous.pem'), generateKeyPem('EdDSA'));
    expect(run(['--config', file]).code).toBe(0);
    const same = writeConfig(
      `tokens: { algorithm: EdDSA, private_key_file: "${access}" }\n` +
        `identity_headers: { assertion_key_file: "${access}" }\n`,
    );
    const r = run(['--config', same]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('must be different keys');
  });
});

describe('defaultConfigFile', () => {
  it('prefers gateway.yaml, then gateway.yaml.example in the folder, then the bundled example', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-default-'));
    expect(defaultConfigFile(dir)).toBe(EXAMPLE);
    writeFileSync(join(dir, 'gateway.yaml.example'), '');
    expect(defaultConfigFile(dir)).toBe(join(dir, 'gateway.yaml.example'));
    writeFileSync(join(dir, 'gateway.yaml'), '');
    expect(defaultConfigFile(dir)).toBe(join(dir, 'gateway.yaml'));
  });
});
