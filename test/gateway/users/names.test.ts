// The character rule for first and last names: controls, bidi formatting characters and lone surrogates
// are refused with a message naming the field; letters of every script, marks and joiners are not.
import { describe, expect, it } from 'vitest';
import { NAME_MAX_LENGTH, nameError, nameProblem } from '../../../gateway/users/names.js';

describe('nameProblem', () => {
  it.each([
    ['NUL', '\u0000'],
    ['BEL', '\u0007'],
    ['LF', '\n'],
    ['CR', '\r'],
    ['TAB', '\t'],
    ['DEL', '\u007f'],
    ['C1 NEL', '\u0085'],
    ['C1 CSI', '\u009b'],
    ['ALM', '\u061c'],
    ['LRM', '\u200e'],
    ['RLM', '\u200f'],
    ['LRE', '\u202a'],
    ['RLE', '\u202b'],
    ['PDF', '\u202c'],
    ['LRO', '\u202d'],
    ['RLO', '\u202e'],
    ['LRI', '\u2066'],
    ['RLI', '\u2067'],
    ['FSI', '\u2068'],
    ['PDI', '\u2069'],
    ['a lone high surrogate', '\ud800'],
    ['a lone low surrogate', '\udfff'],
    ['a reversed pair', '\udc00\ud800'],
  ])('%s anywhere in the name is refused', (_name, bad) => {
    for (const name of [bad, `Ada${bad}`, `${bad}Ada`, `A${bad}da`]) {
      expect(nameProblem('first_name', name)).toMatch(/^first_name: /);
    }
  });

  it.each([
    ['ASCII', "Mary-Ann O'Brien"],
    ['accents', 'Zoë Ñúñez'],
    ['CJK', '李小龍'],
    ['Arabic and Hebrew letters', 'محمد שרה'],
    ['ZWNJ (Persian)', 'می\u200cخواهم'],
    ['ZWJ (Devanagari)', 'क्\u200dष'],
    ['a combining mark', 'Zoe\u0308'],
    ['an astral character (a surrogate pair)', 'Ada 🔑 𝔄'],
    ['a no-break space', 'Jean\u00a0Luc'],
  ])('%s is accepted', (_name, name) => {
    expect(nameProblem('last_name', name)).toBeNull();
  });
});

describe('nameError: the whole rule register and `portcullis user create` share', () => {
  it.each([
    ['empty', '', 'first_name: this field is required'],
    ['blank', ' \u3000 ', 'first_name: this field is required'],
    ['only a zero-width space', '\u200b', 'first_name: this field is required'],
    ['only joiners', '\u200d\u200c', 'first_name: this field is required'],
    ['only the Hangul filler', '\u3164', 'first_name: this field is required'],
    ['only the half-width Hangul filler', ' \uffa0 ', 'first_name: this field is required'],
    ['only word joiner, BOM and soft hyphen', '\u2060\ufeff\u00ad', 'first_name: this field is required'],
    ['too long', 'é'.repeat(NAME_MAX_LENGTH + 1), 'first_name: must be at most 150 characters'],
    [
      'a control character',
      'A\nB',
      'first_name: must not contain control characters, bidirectional formatting characters or lone surrogates',
    ],
  ])('refuses %s', (_name, name, message) => {
    expect(nameError('first_name', name)).toBe(message);
  });

  it('takes a name of exactly 150 code points (astral characters count once)', () => {
    expect(nameError('last_name', '😀'.repeat(NAME_MAX_LENGTH))).toBeNull();
    expect(nameError('last_name', ' Ada ')).toBeNull();
    // Counted as stored, trimmed.
    expect(nameError('last_name', ` ${'a'.repeat(NAME_MAX_LENGTH)} `)).toBeNull();
    // ZWNJ inside a Persian name, a digit, a combining mark: names.
    for (const name of ['می\u200cخواهم', 'Louis 14', 'e\u0301', '李', '🔑', "O'"])
      expect(nameError('last_name', name)).toBeNull();
  });
});
