// The registration password policy: each rule by name, code-point lengths, the common list, similarity.

import { describe, expect, it } from 'vitest';
import {
  commonPasswordList,
  createPasswordPolicy,
  type PasswordPolicyConfig,
  passwordPolicyError,
  quickRatio,
} from '../../../gateway/auth/password-policy.js';

const DEFAULTS: PasswordPolicyConfig = {
  min_length: 12,
  max_length: 1024,
  reject_common: true,
  reject_numeric: true,
  reject_similar: true,
};
const policy = createPasswordPolicy(DEFAULTS);
const person = { email: 'jdoe@example.com', first_name: 'Maximilian', last_name: 'Oyelaran-Quayson' };

describe('password policy (defaults: 12..1024, common, numeric, similar)', () => {
  it.each([
    ['a passphrase', 'correct horse battery staple'],
    ['mixed symbols', 'Tr0ub4dor&3-xyz'],
    ['12 emoji (12 code points)', '🔐'.repeat(12)],
    ['exactly 1024 code points of 4-byte characters', '🔐'.repeat(1024)],
    [
      'a short name part is not similarity ("Al")',
      'always-alert-42',
      { first_name: 'Al', email: 'x9@example.com' },
    ],
    ['the email domain is not part of the identity', 'gmail-is-where-i-live', { email: 'pat@gmail.com' }],
  ])('accepts %s', (_, password, overrides: Partial<typeof person> = {}) => {
    expect(policy.check({ ...person, ...overrides, password })).toBeNull();
  });

  it.each([
    ['min_length', 'empty', ''],
    ['min_length', '11 characters', 'abcdefghijk'],
    ['min_length', '11 emoji: 22 UTF-16 units, 11 code points', '🔐'.repeat(11)],
    ['max_length', '1025 characters', 'x'.repeat(1025)],
    ['max_length', '1025 emoji: nothing is truncated', '🔐'.repeat(1025)],
    ['common', 'a listed password', 'qwerty123456'],
    ['common', 'a listed password in upper case', 'QWERTY123456'],
    ['common', 'a listed password in full-width letters', 'ｐａｓｓｗｏｒｄ１２３４'],
    ['common', 'a listed password with surrounding spaces', '  leavemealone  '],
    ['common', 'only spaces', ' '.repeat(12)],
    ['common', 'only white space of several kinds', ' \t\u3000 \u00a0\t  \u2003   '],
    ['numeric', 'ASCII digits', '839201746253'],
    ['numeric', 'full-width digits', '８３９２０１７４６２５３'],
    ['numeric', 'Arabic-Indic digits', '٨٣٩٢٠١٧٤٦٢٥٣'],
    ['similar', 'contains the first name', 'maximilian-rocks-42'],
    ['similar', 'contains the first name in full-width capitals', 'ＭＡＸＩＭＩＬＩＡＮ-rocks'],
    ['similar', 'contains a part of the last name', 'QUAYSON!quayson!'],
    ['similar', 'contains the email local part', 'jdoe-is-my-name'],
    ['similar', 'the first name reversed (ratio ≥ 0.7)', 'naillimixam!!'],
    ['similar', 'contained in the last name', 'yelaran-quays'],
  ])('rejects with rule %s: %s', (rule, _, password) => {
    const violation = policy.check({ ...person, password });
    expect(violation?.rule).toBe(rule);
    expect(violation?.message).toContain(`(${rule})`);
    if (password.length > 0) expect(violation?.message).not.toContain(password);
  });

  it('names which attribute the password resembles', () => {
    expect(policy.check({ ...person, password: 'maximilian-rocks-42' })?.message).toMatch(/first name/);
    expect(policy.check({ ...person, password: 'QUAYSON!quayson!' })?.message).toMatch(/last name/);
    expect(policy.check({ ...person, password: 'jdoe-is-my-name' })?.message).toMatch(/email/);
  });

  it.each([
    ['reject_common', 'qwerty123456'],
    ['reject_numeric', '839201746253'],
    ['reject_similar', 'maximilian-rocks-42'],
  ] as const)('turning %s off accepts what it would reject', (flag, password) => {
    expect(policy.check({ ...person, password })).not.toBeNull();
    expect(createPasswordPolicy({ ...DEFAULTS, [flag]: false }).check({ ...person, password })).toBeNull();
  });

  it('applies configured lengths', () => {
    const short = createPasswordPolicy({ ...DEFAULTS, min_length: 4, max_length: 16 });
    expect(short.check({ ...person, password: 'k7#v' })).toBeNull();
    expect(short.check({ ...person, password: 'k7#vk7#vk7#vk7#vX' })?.rule).toBe('max_length');
  });

  it.each([
    ['min_length 0', { min_length: 0 }],
    ['fractional min_length', { min_length: 8.5 }],
    ['max_length below min_length', { min_length: 12, max_length: 8 }],
  ])('refuses a config with %s at start-up', (_, overrides) => {
    expect(() => createPasswordPolicy({ ...DEFAULTS, ...overrides })).toThrow(/passwords\./);
  });

  it('turns a violation into 400 validation_failed naming the rule', () => {
    const err = passwordPolicyError({ rule: 'common', message: 'password is too common (common)' });
    expect(err).toMatchObject({ code: 'validation_failed', status: 400 });
    expect(err.message).toContain('common');
  });

  it('enforce throws that error for the first rule broken and passes a good password', () => {
    expect(() => policy.enforce({ ...person, password: 'password1234' })).toThrow(
      expect.objectContaining({ code: 'validation_failed', message: 'password is too common (common)' }),
    );
    expect(() => policy.enforce({ ...person, password: 'k7#vQ2!mZ9@wL4$x' })).not.toThrow();
  });
});

describe('common-password list', () => {
  it('ships at least the 10,000 most common passwords, lower-case, most common first', () => {
    const list = commonPasswordList();
    expect(list.size).toBeGreaterThanOrEqual(10_000);
    const first = [...list].slice(0, 3);
    expect(first).toEqual(['123456', 'password', '12345678']);
    for (const entry of list) expect(entry).toBe(entry.toLowerCase());
  });
});

describe('quickRatio (difflib SequenceMatcher.quick_ratio)', () => {
  it.each([
    ['abcd', 'abcd', 1],
    ['abcd', 'dcba', 1],
    ['abcd', 'wxyz', 0],
    ['aab', 'abb', (2 * 2) / 6],
    ['', '', 1],
    ['🔐🔐', '🔐', (2 * 1) / 3],
  ])('quickRatio(%j, %j) = %d', (a, b, expected) => {
    expect(quickRatio(a, b)).toBeCloseTo(expected, 10);
  });
});
