// The admin page in headless Chromium (Debian's, via playwright-core): sign in with the token, find a
// user, revoke their session from the page, then prove on the main listener that the token is dead;
// the audit view's type filter and its paging.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_EVENT_TYPES } from '../../../gateway/audit.js';
import { type Browser, launchChromium, type Page } from '../../support/browser.js';
import { TEST_ADMIN_TOKEN } from '../../support/gateway.js';
import { call, expectFailure, login, PASSWORD, registerAndLogin, UA } from '../accounts/support.js';
import { type AdminFixture, startAdminFixture } from './support.js';

const ARTIFACTS = fileURLToPath(new URL('../../artifacts/', import.meta.url));
const HOSTILE_FIRST = '<img src=x onerror="document.title=\'owned\'">';
const HOSTILE_LAST = '<script>document.title="owned"</script>';

let fx: AdminFixture;
let browser: Browser;
let page: Page;
let problems: string[];
const requested: string[] = [];

beforeAll(async () => {
  fx = await startAdminFixture({ yaml: 'sessions: { max_active: 3 }' });
  browser = await launchChromium();
  ({ page, problems } = browser);
  page.on('request', (r) => requested.push(r.url()));
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().includes('/api/')) problems.push(`${r.status()} ${r.url()}`);
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await fx?.close();
});

describe('admin page in Chromium', () => {
  it('signs in, finds a user, revokes their session; the token is then rejected', async () => {
    const { id, user, pair } = await registerAndLogin(fx.gw, {
      first_name: HOSTILE_FIRST,
      last_name: HOSTILE_LAST,
    });
    await registerAndLogin(fx.gw);
    // Two failed logins, so the lock-state panel has something to show.
    for (let i = 0; i < 2; i++)
      expect((await login(fx.gw, user.email, `${PASSWORD}-wrong`)).status).toBe(401);
    expect((await call(fx.gw, 'GET', '/app/x', { token: pair.access })).status).toBe(200);

    await page.goto(`${fx.gw.adminUrl}/`);
    await page.locator('input[name="token"]').fill('w'.repeat(40));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That token was refused.').waitFor();
    expect(await page.evaluate<number>('sessionStorage.length')).toBe(0);
    expect(await page.locator('#nav').isVisible()).toBe(false);

    await page.locator('input[name="token"]').fill(TEST_ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#nav').waitFor({ state: 'visible' });
    expect(await page.evaluate<string | null>("sessionStorage.getItem('portcullis-admin-token')")).toBe(
      TEST_ADMIN_TOKEN,
    );

    await page.getByRole('searchbox').fill(user.email);
    await page.getByRole('button', { name: 'Search' }).click();
    // The unfiltered list shown at sign-in has this link too: wait for the search's own view (its URL,
    // then its one row), not for the link, which the old view may still show for a moment.
    await page.waitForURL(/#\/users\?q=/);
    await expect.poll(() => page.locator('tbody tr').count()).toBe(1);
    const link = page.getByRole('link', { name: user.email });
    await link.click();

    await page.getByRole('heading', { name: user.email }).waitFor();
    const row = page.locator('tr[data-sid]');
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.locator('td.ua').textContent()).toBe(UA);
    // Hostile names are text: no element was made from them, no handler ran.
    expect(await page.locator('.facts dd').first().textContent()).toBe(`${HOSTILE_FIRST} ${HOSTILE_LAST}`);
    expect(await page.locator('#view img, #view script').count()).toBe(0);
    expect(await page.title()).toBe('Portcullis admin');
    expect(await page.locator('table.locks').textContent()).toContain('2 / 1000 failures');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'admin-user.png'), fullPage: true });

    await row.getByRole('button', { name: 'Revoke' }).click();
    await page.getByText('Session revoked.').waitFor();
    await page.getByText('No live session.').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'admin-user-revoked.png'), fullPage: true });

    expectFailure(await call(fx.gw, 'GET', '/app/x', { token: pair.access }), 401, 'token_revoked');
    await fx.gw.services.audit.flush();
    const audit = await call({ url: fx.gw.adminUrl }, 'GET', `/api/audit?user=${id}&type=session_revoked`, {
      token: TEST_ADMIN_TOKEN,
    });
    expect((audit.body!.data!.events as Array<{ actor: string }>).map((e) => e.actor)).toEqual(['admin']);
  }, 60_000);

  it('the audit type filter offers every type the gateway writes; a link keeps the type it names', async () => {
    // A password change writes password_changed, a type the page's own list once lacked.
    const { pair } = await registerAndLogin(fx.gw);
    const changed = await call(fx.gw, 'POST', '/api/users/me/password', {
      token: pair.access,
      json: {
        current_password: PASSWORD,
        new_password: 'amber-lantern-orchard-58',
        new_password_confirm: 'amber-lantern-orchard-58',
      },
    });
    expect(changed.status, changed.text).toBe(200);
    await fx.gw.services.audit.flush();

    const select = page.locator('select[name="type"]');
    const rowTypes = () => page.locator('#view tbody tr td:nth-child(3)').allTextContents();
    await page.goto(`${fx.gw.adminUrl}/#/audit?type=password_changed&limit=5`);
    await expect.poll(rowTypes).toEqual(['password_changed']);
    expect(await select.inputValue()).toBe('password_changed');
    const options = await select.locator('option').all();
    const offered = await Promise.all(options.map((o) => o.getAttribute('value')));
    expect(offered).toEqual(['', ...AUDIT_EVENT_TYPES]);

    // A type the gateway does not write (an older version's, a typo): kept and shown as such, never
    // dropped for "any type".
    await page.goto(`${fx.gw.adminUrl}/#/audit?type=retired_event`);
    await page.getByText('No event matches.').waitFor();
    expect(await select.inputValue()).toBe('retired_event');
    expect(await select.locator('option:checked').textContent()).toContain('retired_event');
    expect(await rowTypes()).toEqual([]);
  }, 60_000);

  it('SECURITY: the token never appeared in a URL, and the page ran without errors (CSP included)', () => {
    expect(requested.length).toBeGreaterThan(5);
    for (const url of requested) expect(url).not.toContain(TEST_ADMIN_TOKEN);
    // The wrong token's 401 is the only failed load.
    expect(problems.filter((p) => !p.includes('401'))).toEqual([]);
    expect(problems.filter((p) => p.includes('401')).length).toBeLessThanOrEqual(1);
  });

  it('the audit view pages back with Older (before=<last id>, filters kept) to the oldest event', async () => {
    const { id, user } = await registerAndLogin(fx.gw);
    for (let i = 0; i < 2; i++)
      expect((await login(fx.gw, user.email, `${PASSWORD}-wrong`)).status).toBe(401);
    await fx.gw.services.audit.flush();
    const all = await call({ url: fx.gw.adminUrl }, 'GET', `/api/audit?user=${id}&limit=500`, {
      token: TEST_ADMIN_TOKEN,
    });
    const expected = (all.body!.data!.events as Array<{ id: number }>).map((e) => String(e.id));
    expect(expected.length).toBeGreaterThanOrEqual(4);

    const ids = () => page.locator('#view tbody tr td:nth-child(1)').allTextContents();
    const older = page.getByRole('button', { name: 'Older' });
    await page.goto(`${fx.gw.adminUrl}/#/audit?user=${id}&limit=2`);
    await expect.poll(ids).toEqual(expected.slice(0, 2));
    const seen = [...(await ids())];
    while (seen.length < expected.length) {
      const last = seen.at(-1);
      await older.click();
      await page.waitForURL(new RegExp(`before=${last}$`));
      await expect.poll(async () => (await ids())[0]).not.toBe(last);
      seen.push(...(await ids()));
      expect(page.url()).toContain(`user=${id}`);
    }
    expect(seen).toEqual(expected);
    // The last page (two events, full) still offers Older, which opens an empty page; then none.
    if ((await older.count()) > 0) {
      await older.click();
      await page.getByText('No older event matches.').waitFor();
    }
    expect(await older.count()).toBe(0);
    await page.getByRole('link', { name: 'Newest' }).click();
    await expect.poll(ids).toEqual(expected.slice(0, 2));
  }, 60_000);

  it('an answer for a view the admin already left never replaces the view they are on', async () => {
    const heading = page.locator('#view h1');
    let held = 0;
    await page.route(
      (url) => url.pathname === '/api/audit',
      async (r) => {
        held += 1;
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        await r.continue();
      },
    );
    try {
      await page.getByRole('link', { name: 'Audit log' }).click();
      await expect.poll(() => held).toBe(1);
      await page.getByRole('link', { name: 'Users' }).click();
      await expect.poll(() => heading.allTextContents()).toEqual(['Users']);
      // The audit answer arrives now; it used to be mounted over the users view.
      await page.waitForTimeout(2_500);
      expect(await heading.allTextContents()).toEqual(['Users']);
      expect(await page.locator('#nav a.active').textContent()).toBe('Users');
    } finally {
      await page.unrouteAll({ behavior: 'wait' });
    }
  }, 60_000);

  it('the audit view filters by type, and signing out forgets the token', async () => {
    const select = page.locator('select[name="type"]');
    await page.getByRole('link', { name: 'Audit log' }).click();
    // The view before (a link's unknown type) is replaced once the audit answer is in: only then is
    // the form on screen the one the filter is read from.
    await expect.poll(() => select.inputValue()).toBe('');
    await select.selectOption('session_revoked');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => page.locator('#view tbody tr').count()).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'admin-audit.png'), fullPage: true });
    await page.getByRole('link', { name: 'Gateway' }).click();
    await page.getByText('Live counters').waitFor();
    await page.getByRole('cell', { name: 'boss', exact: true }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'admin-gateway.png'), fullPage: true });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('input[name="token"]').waitFor({ state: 'visible' });
    expect(await page.evaluate<number>('sessionStorage.length')).toBe(0);
  }, 60_000);
});
