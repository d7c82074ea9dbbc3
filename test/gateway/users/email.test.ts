// Email canonicalisation (what uniqueness is decided on) and validation (what registration accepts).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalEmail, validateEmail } from '../../../gateway/users/email.js';

describe('canonicalEmail', () => {
  it.each([
    ['Alice@Example.com', 'alice@example.com'],
    ['  alice@example.com\t', 'alice@example.com'],
    ['ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ', 'alice@example.com'],
    ['ＡＬＩＣＥ@EXAMPLE.COM', 'alice@example.com'],
    ['ﬁnn@example.com', 'finn@example.com'], // ligature
    ['ZOË@example.com', 'zoë@example.com'],
    ['zoe\u0308@example.com', 'zoë@example.com'], // combining diaeresis composes
    ['\u3000bob@example.com\u3000', 'bob@example.com'], // ideographic spaces
  ])('%j → %j', (input, expected) => {
    expect(canonicalEmail(input)).toBe(expected);
  });

  it('keeps the Turkish dotless ı distinct from i (different mailboxes)', () => {
    expect(canonicalEmail('alıce@example.com')).toBe('alıce@example.com');
    expect(canonicalEmail('alıce@example.com')).not.toBe(canonicalEmail('alice@example.com'));
    // Locale-free lower-casing: a capital I never turns into ı.
    expect(canonicalEmail('ALICE@EXAMPLE.COM')).toBe('alice@example.com');
    // Capital dotted İ lower-cases to i + combining dot, still not plain i.
    expect(canonicalEmail('İnci@example.com')).not.toBe(canonicalEmail('inci@example.com'));
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
        const once = canonicalEmail(s);
        expect(canonicalEmail(once)).toBe(once);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('validateEmail', () => {
  it.each([
    'alice@example.com',
    'Alice.Smith+tag@mail.example.co.uk',
    ' alice@example.com ',
    'ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ',
    'zoë@exämple.de',
    "o'brien@example.com",
    `${'a'.repeat(64)}@example.com`,
    `a@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(60)}`, // 254 characters
  ])('accepts %j', (email) => {
    expect(validateEmail(email)).toBeNull();
  });

  it.each([
    ['empty', ''],
    ['only spaces', '   '],
    ['no @', 'alice.example.com'],
    ['two @', 'alice@bob@example.com'],
    ['full-width second @', 'alice＠bob@example.com'],
    ['empty local part', '@example.com'],
    ['empty domain', 'alice@'],
    ['no dot in the domain', 'alice@localhost'],
    ['trailing dot in the domain', 'alice@example.com.'],
    ['leading dot in the domain', 'alice@.example.com'],
    ['double dot in the domain', 'alice@example..com'],
    ['underscore in the domain', 'alice@exa_mple.com'],
    ['hyphen at a label edge', 'alice@-example.com'],
    ['inner space', 'alice smith@example.com'],
    ['CR LF header injection', 'alice@example.com\r\nX-User-Id: 1'],
    ['NUL', 'alice\u0000@example.com'],
    ['half a surrogate pair (read back as U+FFFD: a twin of another address)', 'alice\ud800@example.com'],
    ['a low surrogate alone', 'alice\udfff@example.com'],
    ['zero-width space', 'ali\u200bce@example.com'],
    ['bidi override', 'alice\u202e@example.com'],
    ['non-breaking space inside', 'alice\u00a0x@example.com'],
    ['quote', '"alice"@example.com'],
    ['angle brackets', '<alice>@example.com'],
    ['comma', 'a,b@example.com'],
    ['leading dot in the local part', '.alice@example.com'],
    ['double dot in the local part', 'al..ice@example.com'],
    ['local part over 64', `${'a'.repeat(65)}@example.com`],
    ['domain label over 63', `a@${'b'.repeat(64)}.com`],
    ['over 254', `a@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(61)}`],
  ])('rejects %s', (_, email) => {
    expect(validateEmail(email)).toEqual(expect.stringMatching(/^email /));
  });
});
