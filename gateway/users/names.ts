// The rules for first and last names, shared by every place that sets them (register, the operator's
// `portcullis user create`): present, at most 150 code points, no forbidden character. It does not trim.

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

/** The longest first or last name (code points), as register's body parser enforces it. */
export const NAME_MAX_LENGTH = 150;

/** The whole rule for a first or last name: a message naming the field, or null when the name is fine. */
export function nameError(field: string, name: string): string | null {
  if (name.trim() === '') return `${field}: this field is required`;
  if ([...name].length > NAME_MAX_LENGTH) return `${field}: must be at most ${NAME_MAX_LENGTH} characters`;
  return nameProblem(field, name);
}
