// Password hashes made under other Argon2 parameters are upgraded on the next successful login, and
// only then: a failed login leaves the stored hash alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPasswordHasher } from '../../../gateway/auth/passwords.js';
import type { TestGateway } from '../../support/gateway.js';
import { db, expectFailure, login, newUser, register, startAccountsGateway } from './support.js';

const CONFIGURED = /^\$argon2id\$v=19\$m=1024,t=1,p=1\$/;

let gw: TestGateway;
beforeAll(async () => {
  gw = await startAccountsGateway();
});
afterAll(async () => {
  await gw.stop();
});

const storedHash = (email: string): string =>
  db(gw, 'SELECT password_hash FROM users WHERE email = ?', email)[0]!.password_hash as string;

describe('rehash on login', () => {
  it.each([
    ['more memory', { memory_kib: 2048, iterations: 1, parallelism: 1 }],
    ['more iterations', { memory_kib: 1024, iterations: 3, parallelism: 1 }],
    ['more lanes', { memory_kib: 1024, iterations: 1, parallelism: 2 }],
  ])(
    'a hash made with %s verifies once and is upgraded to the configured parameters',
    async (_name, params) => {
      const user = newUser();
      expect((await register(gw, user)).status).toBe(201);
      expect(storedHash(user.email)).toMatch(CONFIGURED);

      const old = await createPasswordHasher(params).hash(user.password);
      expect(old).not.toMatch(CONFIGURED);
      db(gw, 'UPDATE users SET password_hash = ? WHERE email = ?', old, user.email);

      expectFailure(await login(gw, user.email, 'a-wrong-password-entirely'), 401, 'invalid_credentials');
      expect(storedHash(user.email)).toBe(old);

      expect((await login(gw, user.email, user.password)).status).toBe(200);
      const upgraded = storedHash(user.email);
      expect(upgraded).toMatch(CONFIGURED);
      expect(upgraded).not.toBe(old);

      // The upgraded hash is a working one, and an up-to-date hash is not rewritten again.
      expect((await login(gw, user.email, user.password)).status).toBe(200);
      expect(storedHash(user.email)).toBe(upgraded);
    },
  );
});
