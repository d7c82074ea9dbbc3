import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type RecordingUpstream, startRecordingUpstream } from '../support/upstreams.js';

/** Sends only the head of a request and collects what comes back within `ms`. */
function headOnly(port: number, head: string, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let got = '';
    socket.on('data', (c: Buffer) => {
      got += c.toString();
    });
    socket.on('error', () => undefined);
    socket.write(head);
    setTimeout(() => {
      socket.destroy();
      resolve(got);
    }, ms);
  });
}

describe('Expect: 100-continue', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    gw = await startTestGateway(`routes:
  - { name: open, path: /open, upstream: "${upstream.origin}", auth: public }
  - { name: closed, path: /closed, upstream: "${upstream.origin}", auth: required }`);
  });
  afterAll(async () => {
    await gw.stop();
    await upstream.close();
  });

  it('a request refused by a check never gets 100 Continue, so the client never sends its body', async () => {
    const got = await headOnly(
      gw.port,
      'POST /closed/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n',
      300,
    );
    expect(got).not.toContain('100 Continue');
    expect(got).toMatch(/^HTTP\/1\.1 401 /);
    expect(got).toContain('"code":"missing_token"');
  });

  it('a request that passed every check gets 100 Continue before its body is forwarded', async () => {
    const got = await headOnly(
      gw.port,
      'POST /open/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n',
      300,
    );
    expect(got).toMatch(/^HTTP\/1\.1 100 Continue/);
  });

  it('the own endpoints answer 100 Continue before reading a JSON body', async () => {
    const got = await headOnly(
      gw.port,
      'POST /api/auth/login HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n',
      300,
    );
    expect(got).toMatch(/^HTTP\/1\.1 100 Continue/);
  });

  it.each([
    ['another type', 'POST /api/auth/login', 'Content-Type: text/plain\r\nContent-Length: 2', 415],
    [
      'a length over the limit',
      'POST /api/auth/login',
      'Content-Type: application/json\r\nContent-Length: 2000000',
      413,
    ],
    [
      'a body to an endpoint that takes none',
      'GET /.well-known/jwks.json',
      'Content-Type: text/plain\r\nContent-Length: 2',
      415,
    ],
  ])(
    'an own endpoint refuses %s from the head alone, without 100 Continue',
    async (_name, line, headers, status) => {
      const got = await headOnly(
        gw.port,
        `${line} HTTP/1.1\r\nHost: a\r\n${headers}\r\nExpect: 100-continue\r\n\r\n`,
        300,
      );
      expect(got).not.toContain('100 Continue');
      expect(got).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    },
  );
});
