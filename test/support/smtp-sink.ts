// A real SMTP server for tests (smtp-server on 127.0.0.1, port 0) that keeps every message it accepts,
// parsed with mailparser, so tests read the mail the gateway really sent. Not a test file itself.
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface ReceivedMail {
  readonly from: string;
  /** The envelope recipients (RCPT TO), lower-case. */
  readonly to: readonly string[];
  readonly subject: string;
  readonly text: string;
  /** Every URL in the text. */
  readonly links: readonly string[];
  /** The AUTH user of the session, if any. */
  readonly authUser: string | null;
  readonly secure: boolean;
}

export interface SmtpSink {
  readonly port: number;
  readonly messages: ReceivedMail[];
  /** Resolves with the first message (already received or arriving within `ms`) that matches. */
  waitFor(match: (m: ReceivedMail) => boolean, ms?: number): Promise<ReceivedMail>;
  /** The messages sent to `address` so far. */
  to(address: string): ReceivedMail[];
  close(): Promise<void>;
}

export interface SinkOptions {
  /** Required AUTH credentials; absent = no AUTH offered. */
  readonly auth?: { readonly user: string; readonly password: string };
  /** Offer STARTTLS (smtp-server's built-in self-signed certificate); default off. */
  readonly starttls?: boolean;
}

const URL_RE = /https?:\/\/[^\s"<>]+/g;

export async function startSmtpSink(options: SinkOptions = {}): Promise<SmtpSink> {
  const messages: ReceivedMail[] = [];
  const waiters: Array<() => void> = [];
  const auth = options.auth;
  const config: SMTPServerOptions = {
    disabledCommands: [...(auth === undefined ? ['AUTH'] : []), ...(options.starttls ? [] : ['STARTTLS'])],
    authOptional: auth === undefined,
    allowInsecureAuth: true,
    logger: false,
    onAuth(a, _session, callback) {
      if (auth !== undefined && a.username === auth.user && a.password === auth.password) {
        callback(null, { user: a.username });
      } else {
        callback(new Error('bad credentials'));
      }
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          const text = parsed.text ?? '';
          messages.push({
            from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
            to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
            subject: parsed.subject ?? '',
            text,
            links: text.match(URL_RE) ?? [],
            authUser: typeof session.user === 'string' ? session.user : null,
            secure: session.secure,
          });
          for (const w of waiters.splice(0)) w();
          callback();
        })
        .catch((err: Error) => callback(err));
    },
  };
  const server = new SMTPServer(config);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;

  return {
    port,
    messages,
    to: (address) => messages.filter((m) => m.to.includes(address.toLowerCase())),
    waitFor(match, ms = 5_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const found = messages.find(match);
          if (found === undefined) return false;
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => reject(new Error('no matching mail arrived')), ms);
        const wait = (): void => {
          if (!check()) waiters.push(wait);
        };
        wait();
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
