// The nodemailer adapter against a real SMTP server started here, and the mail texts: what is sent,
// to whom, with which credentials; STARTTLS downgrade and unreachable servers fail as mail_unavailable.
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayConfig } from '../../../config/types.js';
import { createMailer } from '../../../gateway/mail/mailer.js';
import { linkTo, newDeviceAlert, printable, verificationMail } from '../../../gateway/mail/messages.js';
import { type SmtpSink, startSmtpSink } from '../../support/smtp-sink.js';

const mailConfig = (port: number, extra: Partial<GatewayConfig['mail']> = {}): GatewayConfig['mail'] => ({
  host: '127.0.0.1',
  port,
  secure: false,
  starttls: false,
  user: null,
  password: null,
  from: 'Portcullis <no-reply@example.com>',
  public_base_url: 'https://app.example.com',
  ...extra,
});

let sink: SmtpSink | null = null;
afterEach(async () => {
  await sink?.close();
  sink = null;
});

describe('mailer', () => {
  it('is off (null) without mail.host', () => {
    expect(createMailer({ ...mailConfig(25), host: null })).toBeNull();
  });

  it('delivers a plain-text message with the configured sender', async () => {
    sink = await startSmtpSink();
    const mailer = createMailer(mailConfig(sink.port))!;
    await mailer.send({
      to: 'ada@example.com',
      subject: 'Hello',
      text: 'Line one\nhttps://app.example.com/x?token=abc',
    });
    const [m] = sink.to('ada@example.com');
    expect(m).toMatchObject({ from: 'no-reply@example.com', subject: 'Hello', authUser: null });
    expect(m?.links).toEqual(['https://app.example.com/x?token=abc']);
  });

  it('authenticates with mail.user and mail.password', async () => {
    sink = await startSmtpSink({ auth: { user: 'gw', password: 's3cret' } });
    const mailer = createMailer(mailConfig(sink.port, { user: 'gw', password: 's3cret' }))!;
    await mailer.send({ to: 'ada@example.com', subject: 'S', text: 'T' });
    expect(sink.messages[0]?.authUser).toBe('gw');

    const wrong = createMailer(mailConfig(sink.port, { user: 'gw', password: 'nope' }))!;
    await expect(wrong.send({ to: 'b@example.com', subject: 'S', text: 'T' })).rejects.toMatchObject({
      code: 'mail_unavailable',
      status: 503,
    });
  });

  it('security: with starttls required, a server that offers no STARTTLS gets nothing (no downgrade)', async () => {
    sink = await startSmtpSink({ starttls: false });
    const mailer = createMailer(mailConfig(sink.port, { starttls: true }))!;
    await expect(
      mailer.send({ to: 'ada@example.com', subject: 'S', text: 'reset link' }),
    ).rejects.toMatchObject({
      code: 'mail_unavailable',
    });
    expect(sink.messages).toEqual([]);
  });

  it('an unreachable server is mail_unavailable, not a crash', async () => {
    // Port 1 on loopback: nothing listens there (privileged, never taken by a parallel test).
    const mailer = createMailer(mailConfig(1))!;
    await expect(mailer.send({ to: 'a@example.com', subject: 'S', text: 'T' })).rejects.toMatchObject({
      code: 'mail_unavailable',
    });
  });
});

describe('mail texts', () => {
  const base = { publicBaseUrl: 'https://app.example.com/prefix', basePath: '/api/auth' };

  it('builds links from the public base URL and the auth base path only', () => {
    expect(linkTo(base, 'verify_email', 'v1.abc')).toBe(
      'https://app.example.com/prefix/api/auth/verify-email?token=v1.abc',
    );
    const m = verificationMail(
      { email: 'a@example.com', first_name: 'Ada' },
      linkTo(base, 'verify_email', 't'),
      86_400_000,
    );
    expect(m.text).toContain('https://app.example.com/prefix/api/auth/verify-email?token=t');
    expect(m.text).toContain('expires in 24 hours');
  });

  it.each([
    [
      'a newline that would forge a paragraph',
      'Mozilla\r\n\r\nClick http://evil.example now',
      'Mozilla????Click http://evil.example now',
    ],
    ['non-ASCII and control bytes', 'Bot\u0000\u202e\u00e9', 'Bot???'],
  ])('security: the User-Agent in an alert is printable ASCII only (%s)', (_name, ua, shown) => {
    expect(printable(ua)).toBe(shown);
    const m = newDeviceAlert(
      { email: 'a@example.com', first_name: 'Ada' },
      { at: new Date(0), ip: '203.0.113.9', userAgent: ua },
      'https://app.example.com/x',
      3_600_000,
    );
    expect(m.text).toContain(`"${shown}"`);
    expect(m.text).not.toContain('\u0000');
  });

  it('bounds a long User-Agent', () => {
    expect(printable('x'.repeat(1000))).toHaveLength(203);
  });
});
