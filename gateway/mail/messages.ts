// The text of every mail the account flows send, with their links built from `mail.public_base_url`
// (never from a request's Host header). No sending here (mailer.ts) and no decisions (the flows).
import type { MailMessage } from './mailer.js';

export interface LinkBase {
  /** `mail.public_base_url`, no trailing slash. */
  readonly publicBaseUrl: string;
  /** `auth.base_path`. */
  readonly basePath: string;
}

export interface Recipient {
  readonly email: string;
  readonly first_name: string;
}

/** Where each mailed link points; README lists the same paths. */
export const LINK_PATHS = {
  verify_email: '/verify-email',
  password_reset: '/password-reset/confirm',
  email_change: '/email-change/confirm',
  device_alert: '/sessions/not-me',
} as const;

export function linkTo(base: LinkBase, path: keyof typeof LINK_PATHS, token: string): string {
  return `${base.publicBaseUrl}${base.basePath}${LINK_PATHS[path]}?token=${encodeURIComponent(token)}`;
}

const hours = (ms: number): string => {
  const h = ms / 3_600_000;
  if (h >= 48 && Number.isInteger(h / 24)) return `${h / 24} days`;
  if (h >= 1) return `${Math.round(h)} hour${Math.round(h) === 1 ? '' : 's'}`;
  return `${Math.round(ms / 60_000)} minutes`;
};

/**
 * A User-Agent is whatever the client sent: printable ASCII only, bounded, so it cannot add lines that
 * look like our own text (a fake "click here" paragraph) or smuggle bytes into the mail.
 */
export function printable(value: string, max = 200): string {
  const clean = value.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}

const greeting = (to: Recipient): string => `Hello ${printable(to.first_name, 60)},`;
const SIGNATURE = '\n-- \nThis message was sent automatically; replies are not read.\n';

export function verificationMail(to: Recipient, link: string, ttlMs: number): MailMessage {
  return {
    to: to.email,
    subject: 'Confirm your email address',
    text: `${greeting(to)}

Please confirm that this address belongs to you by opening this link:

${link}

The link works once and expires in ${hours(ttlMs)}. If you did not create an account, ignore this message.
${SIGNATURE}`,
  };
}

export function passwordResetMail(to: Recipient, link: string, token: string, ttlMs: number): MailMessage {
  return {
    to: to.email,
    subject: 'Reset your password',
    text: `${greeting(to)}

Someone (hopefully you) asked to reset the password of this account. To choose a new password, open:

${link}

or send this reset token with your new password to the application: ${token}

The token works once and expires in ${hours(ttlMs)}. Every signed-in session is signed out when the
password is reset. If you did not ask for this, ignore this message: your password has not changed.
${SIGNATURE}`,
  };
}

export function emailChangeMail(to: Recipient, newEmail: string, link: string, ttlMs: number): MailMessage {
  return {
    to: newEmail,
    subject: 'Confirm your new email address',
    text: `${greeting(to)}

You asked to use this address for your account. To confirm it, open this link:

${link}

The link works once and expires in ${hours(ttlMs)}. Confirming signs out every session. If you did not ask
for this, ignore this message: nothing changes.
${SIGNATURE}`,
  };
}

/** To the old address: whoever holds the password is moving the account away from this mailbox. */
export function emailChangeNotice(to: Recipient, newEmail: string, at: Date, ip: string): MailMessage {
  return {
    to: to.email,
    subject: 'Your email address is being changed',
    text: `${greeting(to)}

At ${at.toISOString()} a request from IP ${ip} asked to change the email address of your account to
${maskEmail(newEmail)}. It takes effect only when that address confirms it.

If this was not you, reset your password now: someone else knows it.
${SIGNATURE}`,
  };
}

export function passwordChangedNotice(to: Recipient, at: Date, ip: string, how: string): MailMessage {
  return {
    to: to.email,
    subject: 'Your password was changed',
    text: `${greeting(to)}

The password of your account was changed (${how}) at ${at.toISOString()} from IP ${ip}. Every other session
was signed out.

If this was not you, reset your password at once and contact support.
${SIGNATURE}`,
  };
}

export interface LoginDetails {
  readonly at: Date;
  readonly ip: string;
  readonly userAgent: string;
}

export function newDeviceAlert(to: Recipient, login: LoginDetails, link: string, ttlMs: number): MailMessage {
  return {
    to: to.email,
    subject: 'New sign-in to your account',
    text: `${greeting(to)}

Your account was signed in to from a device and network it was not used from before:

  Time:       ${login.at.toISOString()}
  IP address: ${login.ip}
  Browser:    "${printable(login.userAgent)}"

If this was you, there is nothing to do.

If this was NOT you, open this link: it signs that session (and every other one) out and blocks new
logins until the password is reset; a reset link is mailed to you at once.

${link}

The link works once and expires in ${hours(ttlMs)}.
${SIGNATURE}`,
  };
}

/** `ada@example.com` → `a***@example.com`: the old mailbox learns where the account goes, not the whole address. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at <= 0) return '***';
  return `${email.slice(0, 1)}***${email.slice(at)}`;
}
