// Text no user store can keep: NUL (PostgreSQL refuses it in text and jsonb) and unpaired surrogates
// (not UTF-8; SQLite would store bytes it cannot give back). Bodies with them are refused where they
// arrive (json-body.ts refuses escaped halves of a pair); what still meets a store goes through here.

const UNSTORABLE = /[\0\p{Cs}]/u;
const UNSTORABLE_ALL = /[\0\p{Cs}]/gu;

/** Whether every character of `text` can be stored and read back unchanged. */
export const storable = (text: string): boolean => !UNSTORABLE.test(text);

/** `text` with each unstorable character replaced by U+FFFD: for records kept as evidence (login attempts). */
export const toStorable = (text: string): string =>
  UNSTORABLE.test(text) ? text.replace(UNSTORABLE_ALL, '\uFFFD') : text;
