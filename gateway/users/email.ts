// Email canonicalisation (the one form used for uniqueness, lookups and lockout keys) and validation.
// Does not check deliverability or DNS; the stored address stays as the user typed it, trimmed.

const MAX_EMAIL_LENGTH = 254; // RFC 5321 §4.5.3.1.3 path limit, counted here in code points
const MAX_LOCAL_LENGTH = 64; // RFC 5321 §4.5.3.1.1
const MAX_LABEL_LENGTH = 63; // RFC 1035 §2.3.4

// Whitespace, controls and invisible format characters (zero-width space, bidi overrides) make two
// addresses look identical to a person while differing in bytes, and CR/LF would split the identity
// header the gateway sends upstream.
// Cs: half a surrogate pair (the body parser refuses an escaped one; the CLI reads UTF-8 strictly).
const INVISIBLE = /[\s\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
// Characters only valid inside a quoted local part, which we do not accept: they confuse header and
// log parsers downstream and no real mailbox needs them.
const QUOTED_ONLY = /["(),:;<>[\]\\]/;
const DOMAIN_LABEL = /^[\p{L}\p{M}\p{N}](?:[\p{L}\p{M}\p{N}-]*[\p{L}\p{M}\p{N}])?$/u;

/**
 * The comparison form: NFKC (full-width `ａｌｉｃｅ＠…` and ligatures fold to ASCII), lower-cased
 * without a locale, trimmed. NFKC is applied again after lower-casing because case mapping can
 * leave a string that is no longer normalised; the result is idempotent.
 * The Turkish dotless `ı` stays distinct from `i`: they are different mailboxes.
 */
export function canonicalEmail(email: string): string {
  return email.normalize('NFKC').toLowerCase().normalize('NFKC').trim();
}

/** A message naming what is wrong, or null when the address is acceptable. */
export function validateEmail(email: string): string | null {
  const given = email.trim();
  if (given.length === 0) return 'email is required';
  if ([...given].length > MAX_EMAIL_LENGTH) return `email must be at most ${MAX_EMAIL_LENGTH} characters`;
  const canonical = canonicalEmail(given);
  if (INVISIBLE.test(given) || INVISIBLE.test(canonical)) {
    return 'email must not contain spaces or control characters';
  }
  // Structure is judged on the canonical form: that is the form uniqueness is decided on, so a
  // full-width `＠` counts as an `@` here.
  const parts = canonical.split('@');
  if (parts.length !== 2) return 'email must contain exactly one @';
  const [local, domain] = parts as [string, string];
  if (local.length === 0) return 'email must have a part before the @';
  if ([...local].length > MAX_LOCAL_LENGTH) {
    return `email must have at most ${MAX_LOCAL_LENGTH} characters before the @`;
  }
  if (QUOTED_ONLY.test(local)) return 'email contains a character that is not allowed';
  if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
    return 'email must not have a leading, trailing or double dot before the @';
  }
  if (domain.length === 0) return 'email must have a domain after the @';
  if (domain.endsWith('.')) return 'email domain must not end with a dot';
  const labels = domain.split('.');
  if (labels.length < 2) return 'email domain must contain a dot';
  for (const label of labels) {
    if (label.length === 0) return 'email domain must not contain empty labels';
    if ([...label].length > MAX_LABEL_LENGTH || !DOMAIN_LABEL.test(label)) {
      return 'email domain is not a valid host name';
    }
  }
  return null;
}
