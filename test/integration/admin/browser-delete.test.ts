// The admin page's "Delete account" in headless Chromium (Debian's, via playwright-core): dismissing the
// confirmation deletes nothing; accepting it deletes the account, the page shows the "deleted" badge and
// offers no change any more, and the user's token is dead on the main listener.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, launchChromium, type Page } from '../../support/browser.js';
import { TEST_ADMIN_TOKEN } from '../../support/gateway.js';
import { call, expectFailure, login, PASSWORD, registerAndLogin } from '../accounts/support.js';
import { type AdminFixture, adminOk, startAdminFixture } from './support.js';

let fx: AdminFixture;
let browser: Browser;
let page: Page;
let problems: string[];

beforeAll(async () => {
  fx = await startAdminFixture();
  browser = await launchChromium();
  ({ page, problems } = browser);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await fx?.close();
});

describe('admin page in Chromium: Delete account', () => {
  it('asks first; once confirmed the account is deleted, badged, frozen, and its token refused', async () => {
    const { id, user, pair } = await registerAndLogin(fx.gw);
    await page.goto(`${fx.gw.adminUrl}/`);
    await page.locator('input[name="token"]').fill(TEST_ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#nav').waitFor({ state: 'visible' });
    await page.goto(`${fx.gw.adminUrl}/#/user/${id}`);
    const heading = page.getByRole('heading', { name: user.email });
    await heading.waitFor();
    const remove = page.getByRole('button', { name: 'Delete account' });

    const asked: string[] = [];
    page.once('dialog', (d) => {
      asked.push(d.message());
      void d.dismiss();
    });
    await remove.click();
    await expect.poll(() => asked.length).toBe(1);
    expect(asked[0]).toContain(user.email);
    expect((await adminOk(fx.gw, 'GET', `/api/users/${id}`)).user).toMatchObject({ is_deleted: false });
    expect((await call(fx.gw, 'GET', '/app/x', { token: pair.access })).status).toBe(200);

    page.once('dialog', (d) => void d.accept());
    await remove.click();
    await page.getByText('Account deleted; its sessions are revoked.').waitFor();
    await expect.poll(() => heading.locator('.badge').allTextContents()).toContain('deleted');
    expect(await page.getByRole('button', { name: 'Delete account' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Enable account' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Save roles' }).count()).toBe(0);
    await page.getByText('No live session.').waitFor();

    expect((await adminOk(fx.gw, 'GET', `/api/users/${id}`)).user).toMatchObject({ is_deleted: true });
    expectFailure(await call(fx.gw, 'GET', '/app/x', { token: pair.access }), 401, 'token_revoked');
    expectFailure(await login(fx.gw, user.email, PASSWORD), 401, 'invalid_credentials');
    expect(problems).toEqual([]);
  }, 60_000);
});
