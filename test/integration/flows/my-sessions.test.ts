// GET/DELETE <profile_path>/sessions end to end: the caller's sessions only, the current flag, ending one
// (another user's id is not found and stays alive) and ending all the others.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, expectFailure, loginOk, me, OTHER_UA, registerAndLogin, UA } from '../accounts/support.js';
import { authed, type FlowsGateway, startFlowsGateway } from './support.js';

interface Listed {
  readonly id: string;
  readonly device: string;
  readonly ip: string;
  readonly created_at: string;
  readonly last_seen: string;
  readonly current: boolean;
}

describe('my sessions', () => {
  let f: FlowsGateway;
  beforeAll(async () => {
    // Works without mail: nothing here sends any.
    f = await startFlowsGateway({ mail: false, yaml: 'sessions: { max_active: 5 }' });
  });
  afterAll(() => f.stop());

  const list = async (access: string, ua = UA): Promise<Listed[]> => {
    const res = await authed(f.gw, 'GET', '/api/users/me/sessions', access, undefined, ua);
    expect(res.status, res.text).toBe(200);
    return res.body!.data as unknown as Listed[];
  };

  it('lists the caller’s sessions with device, IP, times and the current flag', async () => {
    const { user, pair } = await registerAndLogin(f.gw);
    const other = await loginOk(f.gw, user.email, user.password, OTHER_UA);
    const sessions = await list(pair.access);
    expect(sessions).toHaveLength(2);
    expect(sessions.map((s) => [s.device, s.current]).sort()).toEqual(
      [
        [OTHER_UA, false],
        [UA, true],
      ].sort(),
    );
    for (const s of sessions) {
      expect(s.ip).toBe('127.0.0.1');
      expect(Number.isNaN(Date.parse(s.created_at))).toBe(false);
      expect(Number.isNaN(Date.parse(s.last_seen))).toBe(false);
    }
    expect((await list(other.access, OTHER_UA)).find((s) => s.current)?.device).toBe(OTHER_UA);
  });

  it('ends one session by id; that token is revoked, the others live', async () => {
    const { user, pair } = await registerAndLogin(f.gw);
    const other = await loginOk(f.gw, user.email, user.password, OTHER_UA);
    const target = (await list(pair.access)).find((s) => !s.current)!;
    const res = await authed(f.gw, 'DELETE', `/api/users/me/sessions/${target.id}`, pair.access);
    expect(res.status, res.text).toBe(200);
    expectFailure(await me(f.gw, other.access, OTHER_UA), 401, 'token_revoked');
    expect((await me(f.gw, pair.access)).status).toBe(200);
    expectFailure(
      await authed(f.gw, 'DELETE', `/api/users/me/sessions/${target.id}`, pair.access),
      404,
      'session_not_found',
    );
  });

  it("security: another user's session id is not found, and that session lives on", async () => {
    const alice = await registerAndLogin(f.gw);
    const bob = await registerAndLogin(f.gw);
    const bobSid = (await list(bob.pair.access))[0]!.id;
    expectFailure(
      await authed(f.gw, 'DELETE', `/api/users/me/sessions/${bobSid}`, alice.pair.access),
      404,
      'session_not_found',
    );
    expect((await me(f.gw, bob.pair.access)).status).toBe(200);
    expect((await list(alice.pair.access)).map((s) => s.id)).not.toContain(bobSid);
  });

  it.each([
    ['a made-up id', 'AAAAAAAAAAAAAAAAAAAAAA'],
    ['characters outside the id alphabet', 'abc$def'],
    ['a deeper path', 'abc/def'],
  ])('security: %s is 404 session_not_found', async (_name, sid) => {
    const { pair } = await registerAndLogin(f.gw);
    expectFailure(
      await authed(f.gw, 'DELETE', `/api/users/me/sessions/${sid}`, pair.access),
      404,
      'session_not_found',
    );
  });

  it('DELETE on the collection ends every other session, keeps this one', async () => {
    const { user, pair } = await registerAndLogin(f.gw);
    const others = [
      await loginOk(f.gw, user.email, user.password, OTHER_UA),
      await loginOk(f.gw, user.email, user.password, `${UA} second`),
    ];
    const res = await authed(f.gw, 'DELETE', '/api/users/me/sessions', pair.access);
    expect(res.body?.data).toEqual({ sessions_ended: 2 });
    expect(await list(pair.access)).toHaveLength(1);
    expectFailure(await me(f.gw, others[0]!.access, OTHER_UA), 401, 'token_revoked');
    expectFailure(await me(f.gw, others[1]!.access, `${UA} second`), 401, 'token_revoked');
  });

  it('ending the current session is a logout', async () => {
    const { pair } = await registerAndLogin(f.gw);
    const self = (await list(pair.access))[0]!;
    expect((await authed(f.gw, 'DELETE', `/api/users/me/sessions/${self.id}`, pair.access)).status).toBe(200);
    expectFailure(await me(f.gw, pair.access), 401, 'token_revoked');
  });

  it('needs a token', async () => {
    expectFailure(await call(f.gw, 'GET', '/api/users/me/sessions'), 401, 'missing_token');
    expectFailure(await call(f.gw, 'DELETE', '/api/users/me/sessions/abc'), 401, 'missing_token');
  });
});
