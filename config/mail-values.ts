// Pure checks for the `mail:` section's structured strings: the public base URL every mailed link starts
// with, and the From address. No I/O, no SMTP: the mailer (gateway/mail/mailer.ts) connects later.
import type { Checked } from './values.js';

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const bad = (message: string): Checked<never> => ({ ok: false, message });

/**
 * `https://app.example.com` or `https://example.com/auth-prefix`: links are built from this and never
 * from a request's Host header (a forged Host would otherwise send a victim a link to the attacker's
 * site carrying a reset token). Normalised to no trailing slash.
 */
export function checkPublicBaseUrl(text: string): Checked<string | null> {
  if (text.trim() === '') return ok(null);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return bad('must be an absolute http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return bad('must be an http(s) URL');
  if (url.username !== '' || url.password !== '') return bad('must not contain credentials');
  if (url.search !== '' || url.hash !== '' || text.includes('?') || text.includes('#')) {
    return bad('must not contain a query or fragment');
  }
  const path = url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname;
  return ok(`${url.origin}${path}`);
}

// A display name with an address in angle brackets, or a bare address. Line breaks would let a
// configured value add headers (header injection), so they are refused even here.
const ADDRESS = /^[^\s@<>"]+@[^\s@<>"]+$/;
const NAMED = /^[^<>\r\n"]*<([^\s@<>"]+@[^\s@<>"]+)>$/;

export function checkMailFrom(text: string): Checked<string | null> {
  const value = text.trim();
  if (value === '') return ok(null);
  if (/[\r\n]/.test(value)) return bad('must not contain line breaks');
  if (ADDRESS.test(value) || NAMED.test(value)) return ok(value);
  return bad('must be an address (no-reply@example.com) or "Name <no-reply@example.com>"');
}
