// The password policy applied at registration: length in code points, common-password list, not all
// numeric, not similar to the email or names. It does not hash, and login never runs it.

import { createRequire } from 'node:module';
import type { GatewayConfig } from '../../config/types.js';
import { GatewayError } from '../errors.js';

export type PasswordRule = 'min_length' | 'max_length' | 'common' | 'numeric' | 'similar';

export interface PasswordViolation {
  readonly rule: PasswordRule;
  /** Names the rule; safe to send (never echoes the password). */
  readonly message: string;
}

export interface PasswordCandidate {
  readonly password: string;
  readonly email: string;
  readonly first_name: string;
  readonly last_name: string;
}

export interface PasswordPolicy {
  /** The first rule the password breaks, in the order of PasswordRule, or null. */
  check(candidate: PasswordCandidate): PasswordViolation | null;
  /** Throws 400 validation_failed naming the first rule the password breaks (what every endpoint answers). */
  enforce(candidate: PasswordCandidate): void;
}

export type PasswordPolicyConfig = Pick<
  GatewayConfig['passwords'],
  'min_length' | 'max_length' | 'reject_common' | 'reject_numeric' | 'reject_similar'
>;

/** Django's UserAttributeSimilarityValidator default. */
export const MAX_SIMILARITY = 0.7;
// Shorter name parts ("Al", "Li") would reject too many unrelated passwords by containment.
const MIN_PART_LENGTH = 3;

let commonPasswords: ReadonlySet<string> | undefined;

interface LanguageCommon {
  readonly dictionary: { readonly 'passwords-common': readonly string[] };
}

/**
 * The ~49,000 most common leaked passwords, ranked, lower-case: the `passwords-common` list of
 * @zxcvbn-ts/language-common (from the xato.net 10M-password corpus). Loaded and built once per
 * process, on the first password checked: the package's dictionaries take ≈10 MB that a gateway
 * which never sees a new password (streaming, proxy-only replicas) should not hold.
 */
export function commonPasswordList(): ReadonlySet<string> {
  if (commonPasswords === undefined) {
    // A synchronous load (its CommonJS build) keeps check() synchronous; it happens once, in ≈30 ms.
    const { dictionary } = createRequire(import.meta.url)('@zxcvbn-ts/language-common') as LanguageCommon;
    commonPasswords = new Set(dictionary['passwords-common']);
  }
  return commonPasswords;
}

// NFKC so full-width or ligature spellings of a listed password or a name are caught too.
function fold(s: string): string {
  return s.normalize('NFKC').toLowerCase();
}

/**
 * difflib's SequenceMatcher.quick_ratio, as Django uses it: 2·M / (|a| + |b|) where M is the size of
 * the multiset intersection of the two strings' characters. An upper bound of the real ratio, so it
 * errs on the side of rejecting; linear time, so a 1024-character password costs nothing.
 */
export function quickRatio(a: string, b: string): number {
  const left = [...a];
  const right = [...b];
  if (left.length + right.length === 0) return 1;
  const available = new Map<string, number>();
  for (const ch of right) available.set(ch, (available.get(ch) ?? 0) + 1);
  let matches = 0;
  for (const ch of left) {
    const n = available.get(ch) ?? 0;
    if (n > 0) {
      matches++;
      available.set(ch, n - 1);
    }
  }
  return (2 * matches) / (left.length + right.length);
}

const NON_WORD = /[^\p{L}\p{M}\p{N}]+/u;

function parts(value: string): string[] {
  return [value, ...value.split(NON_WORD)].filter((p) => [...p].length >= MIN_PART_LENGTH);
}

type Attribute = readonly [label: string, containment: string, whole: string];

/** Which attribute the password resembles, or null. */
function similarTo(password: string, attributes: readonly Attribute[]): string | null {
  const pw = fold(password);
  const pwLength = [...pw].length;
  for (const [label, containment, whole] of attributes) {
    for (const part of parts(fold(containment))) {
      if (pw.includes(part) || part.includes(pw)) return label;
    }
    for (const part of parts(fold(whole))) {
      // Django's exceeds_maximum_length_ratio: a value this much shorter than the password cannot
      // reach the ratio, and long passwords should not be rejected for sharing a few letters.
      const partLength = [...part].length;
      if (pwLength >= 10 * partLength && partLength < (MAX_SIMILARITY / 2) * pwLength) continue;
      if (quickRatio(pw, part) >= MAX_SIMILARITY) return label;
    }
  }
  return null;
}

export function createPasswordPolicy(config: PasswordPolicyConfig): PasswordPolicy {
  const { min_length: min, max_length: max } = config;
  if (!Number.isInteger(min) || min < 1) throw new Error('passwords.min_length must be a positive integer');
  if (!Number.isInteger(max) || max < min)
    throw new Error('passwords.max_length must be at least min_length');

  const policy: PasswordPolicy = {
    check({ password, email, first_name, last_name }) {
      // Code points, not UTF-16 units: an emoji is one character to the user. Nothing is
      // truncated, and the cap bounds the hashing and similarity work an attacker can ask for.
      const length = [...password].length;
      if (length < min) {
        return { rule: 'min_length', message: `password must be at least ${min} characters (min_length)` };
      }
      if (length > max) {
        return { rule: 'max_length', message: `password must be at most ${max} characters (max_length)` };
      }
      if (config.reject_common) {
        const core = fold(password).trim();
        // Nothing but spaces is the most common password of all, and in no list.
        if (core === '') return { rule: 'common', message: 'password must not be only spaces (common)' };
        if (commonPasswordList().has(core))
          return { rule: 'common', message: 'password is too common (common)' };
      }
      if (config.reject_numeric && /^\p{Nd}+$/u.test(password)) {
        return { rule: 'numeric', message: 'password must not be entirely numeric (numeric)' };
      }
      if (config.reject_similar) {
        const folded = fold(email);
        const at = folded.lastIndexOf('@');
        const local = at === -1 ? folded : folded.slice(0, at);
        const label = similarTo(password, [
          ['email', local, folded],
          ['first name', first_name, first_name],
          ['last name', last_name, last_name],
        ]);
        if (label !== null) {
          return { rule: 'similar', message: `password is too similar to the ${label} (similar)` };
        }
      }
      return null;
    },
    enforce(candidate) {
      const violation = policy.check(candidate);
      if (violation !== null) throw passwordPolicyError(violation);
    },
  };
  return policy;
}

/** The error the register endpoint answers for a violation: 400 validation_failed naming the rule. */
export function passwordPolicyError(violation: PasswordViolation): GatewayError {
  return new GatewayError('validation_failed', { message: violation.message });
}
