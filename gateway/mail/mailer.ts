// The nodemailer adapter (the only module importing nodemailer): sends plain-text mail through the SMTP
// server of the `mail:` section. It does not write messages (messages.ts) nor decide when to send.
import type { Transporter } from 'nodemailer';
import type { GatewayConfig } from '../../config/types.js';
import { GatewayError } from '../errors.js';

export interface MailMessage {
  /** One recipient: an address the gateway validated (a user's email). */
  readonly to: string;
  readonly subject: string;
  readonly text: string;
}

export interface Mailer {
  /** Resolves once the server accepted the message; otherwise mail_unavailable (cause kept for the log). */
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/** One slow SMTP server must not hold a request (or a background send) for minutes: nodemailer's own defaults are 2-10 min. */
const CONNECT_TIMEOUT_MS = 10_000;
const SOCKET_TIMEOUT_MS = 30_000;

/** null when `mail.host` is not set: the flows that need mail are then not served. */
export function createMailer(mail: GatewayConfig['mail']): Mailer | null {
  const { host, from } = mail;
  if (host === null || from === null) return null;
  // nodemailer is loaded on the first send: a gateway without mail never pays its memory.
  let transport: Transporter | null = null;
  const open = async (): Promise<Transporter> => {
    if (transport !== null) return transport;
    const { default: nodemailer } = await import('nodemailer');
    transport = nodemailer.createTransport({
      host,
      port: mail.port,
      secure: mail.secure,
      // Without implicit TLS: STARTTLS is either required (a downgrade by a network attacker fails the send
      // instead of exposing reset links and credentials) or, for a local relay, never attempted.
      requireTLS: !mail.secure && mail.starttls,
      ignoreTLS: !mail.secure && !mail.starttls,
      ...(mail.user === null ? {} : { auth: { user: mail.user, pass: mail.password ?? '' } }),
      connectionTimeout: CONNECT_TIMEOUT_MS,
      greetingTimeout: CONNECT_TIMEOUT_MS,
      socketTimeout: SOCKET_TIMEOUT_MS,
      // Certificates are always verified: there is deliberately no option to turn that off.
      tls: { rejectUnauthorized: true },
    });
    return transport;
  };

  return {
    async send(message) {
      try {
        await (await open()).sendMail({
          from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          // Tracking-free, no HTML: nothing in these mails needs more than text, and links stay visible.
          disableFileAccess: true,
          disableUrlAccess: true,
        });
      } catch (err) {
        throw new GatewayError('mail_unavailable', { cause: err });
      }
    },
    close() {
      transport?.close();
    },
  };
}
