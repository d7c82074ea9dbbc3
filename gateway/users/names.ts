// The rules for first and last names, shared by every place that sets them (register, the operator's
// `portcullis user create`): something visible, at most 150 code points once trimmed, no forbidden
// character. It does not trim: the callers store the trimmed name.

// Cc: C0/C1 controls (NUL, BEL, CR/LF would split a log line or an identity header). The bidi controls
// (embeddings and overrides U+202A–U+202E, isolates U+2066–U+2069, the marks U+200E, U+200F, U+061C)
// let a name display as other text than it holds. Cs: a lone surrogate is no character at all (in u-mode
// a paired one is read as its code point, so only lone ones match). Other format characters stay
// allowed: ZWNJ/ZWJ (U+200C/U+200D) are part of correct spelling in Persian and Indic scripts.
const FORBIDDEN = /[\p{Cc}\p{Cs}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;

/** A message naming the field, or null when the name holds no forbidden character. */
export function nameProblem(field: string, name: string): string | null {
  return FORBIDDEN.test(name)
    ? `${field}: must not contain control characters, bidirectional formatting characters or lone surrogates`
    : null;
}

/**
 * Nothing to show: spaces, format characters (U+200B, U+2060, U+FEFF, the soft hyphen, joiners) and the
 * blank letters (the Hangul fillers U+115F, U+1160, U+3164, U+FFA0; the Braille blank U+2800).
 */
const BLANK = /^[\s\p{Z}\p{Cf}\u115F\u1160\u3164\uFFA0\u2800]*$/u;

/** The longest first or last name (code points), as register's body parser enforces it. */
export const NAME_MAX_LENGTH = 150;

/** The whole rule for a first or last name: a message naming the field, or null when the name is fine. */
export function nameError(field: string, name: string): string | null {
  const kept = name.trim();
  // A name shows something: one made of invisible characters only (U+200B, U+3164) passed as present.
  if (BLANK.test(kept)) return `${field}: this field is required`;
  // Counted as stored (trimmed): " " + 150 letters is 150 characters.
  if ([...kept].length > NAME_MAX_LENGTH) return `${field}: must be at most ${NAME_MAX_LENGTH} characters`;
  return nameProblem(field, name);
}
