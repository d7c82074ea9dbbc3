// Rotating the assertion key (examples/verify/README.md, "Key rotation") with two-factor users: the
// TOTP secrets are sealed with a key derived from it. The same SQLite file through three gateways in
// a row: enrolled under key A; A moved to assertion-key.previous.pem and B generated (secrets sealed
// again at start-up); the previous file deleted. The second factor works at every step.
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { TestGateway } from '../../support/gateway.js';
import {
  call,
  expectFailure,
  login,
  PASSWORD,
  registerAndLogin,
  startAccountsGateway,
  UA,
} from '../accounts/support.js';
import { authed, awayFromStepEdge, totpCode } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-rotation-'));
const start = () =>
  startAccountsGateway({
    dir,
    yaml: 'auth: { totp_issuer: "Portcullis Test" }\nsessions: { max_active: 5 }',
  });
let gw: TestGateway | null = null;
afterAll(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Logs in with the password, then completes the challenge with `code`. */
async function secondFactor(target: TestGateway, email: string, code: string) {
  const first = await login(target, email, PASSWORD, { ua: UA });
  expect(first.status, first.text).toBe(200);
  expect(first.body?.data?.totp_required).toBe(true);
  return call(target, 'POST', '/api/auth/login/totp', {
    json: { challenge: first.body!.data!.challenge, code },
    ua: UA,
  });
}

const sealedSecret = (target: TestGateway, userId: string) =>
  target.services.users.accountData.security(userId).then((s) => s.totp_secret);

it('security: a TOTP secret survives an assertion key rotation, including the removal of the old key', async () => {
  gw = await start();
  await awayFromStepEdge();
  const { user, id: userId, pair } = await registerAndLogin(gw);
  const enroll = await authed(gw, 'POST', '/api/auth/totp/enroll', pair.access, { password: PASSWORD });
  expect(enroll.status, enroll.text).toBe(200);
  const secret = enroll.body!.data!.secret as string;
  const confirm = await authed(gw, 'POST', '/api/auth/totp/confirm', pair.access, {
    code: totpCode(secret, 1),
  });
  expect(confirm.status, confirm.text).toBe(200);
  const sealedUnderA = await sealedSecret(gw, userId);
  expect(sealedUnderA).not.toBeNull();
  await gw.stop();
  gw = null;

  // Rotation step 1: the current key becomes the previous one; a new current key is generated.
  renameSync(join(dir, 'assertion-key.pem'), join(dir, 'assertion-key.previous.pem'));
  gw = await start();
  expect(existsSync(join(dir, 'assertion-key.pem'))).toBe(true);
  expect(gw.logs.some((l) => l.msg === 'TOTP secrets sealed again with the current assertion key')).toBe(
    true,
  );
  const sealedUnderB = await sealedSecret(gw, userId);
  expect(sealedUnderB).not.toBe(sealedUnderA);
  await awayFromStepEdge();
  const during = await secondFactor(gw, user.email, totpCode(secret));
  expect(during.status, during.text).toBe(200);
  expect(during.body?.data?.access).toEqual(expect.any(String));
  await gw.stop();
  gw = null;

  // Rotation step 3: the previous key file is deleted. Nothing is left to seal again.
  rmSync(join(dir, 'assertion-key.previous.pem'));
  gw = await start();
  expect(gw.logs.some((l) => String(l.msg).startsWith('TOTP secrets'))).toBe(false);
  expect(await sealedSecret(gw, userId)).toBe(sealedUnderB);
  await awayFromStepEdge();
  const after = await secondFactor(gw, user.email, totpCode(secret, 1));
  expect(after.status, after.text).toBe(200);
  // A wrong code is still refused: the secret was not replaced by anything that accepts any code.
  expectFailure(await secondFactor(gw, user.email, '000000'), 401, 'invalid_code');
  await gw.stop();
  gw = null;

  // The mistake the procedure avoids: the key replaced without keeping the old one. The start says so.
  rmSync(join(dir, 'assertion-key.pem'));
  gw = await start();
  const warning = gw.logs.find((l) => String(l.msg).startsWith('TOTP secrets that no assertion key opens'));
  expect(warning?.unreadable).toBe(1);
  expectFailure(await secondFactor(gw, user.email, totpCode(secret)), 401, 'invalid_code');
});
