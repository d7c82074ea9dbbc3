// Parses the config's unit strings: durations (`30s`) to ms, sizes (`1mb`) to bytes, rates (`100/h`) to Rate.
// Pure and total: bad input gives null (the schema turns it into a message); it never reads config or env.
import type { Rate } from './types.js';

export const UNIT_MESSAGES = {
  duration: 'must be a duration like 30s, 15m, 1h',
  size: 'must be a size like 512b, 64kb, 1mb, 1gb or a number of bytes',
  rate: 'must be a rate like 100/h, 5/m, 10/s',
} as const;

const DURATION_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const SIZE_BYTES = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 } as const;
const RATE_WINDOW_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

// Lower-case units only for durations: `1M` could be read as a month.
const DURATION_RE = /^(\d{1,15})(ms|s|m|h|d)$/;
const SIZE_RE = /^(\d{1,15})(b|kb|mb|gb)?$/i;
const RATE_RE = /^(\d{1,15})\/(s|m|h|d)$/;

function safe(n: number): number | null {
  return Number.isSafeInteger(n) ? n : null;
}

/** `500ms`, `30s`, `15m`, `1h`, `1d` → milliseconds; null when not a duration. */
export function parseDuration(text: string): number | null {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return null;
  return safe(Number(m[1]) * DURATION_MS[m[2] as keyof typeof DURATION_MS]);
}

/** `512b`, `64kb`, `1mb`, `1gb` (any case, 1024-based) or a bare integer → bytes; null when not a size. */
export function parseSize(input: string | number): number | null {
  if (typeof input === 'number') return Number.isSafeInteger(input) && input >= 0 ? input : null;
  const m = SIZE_RE.exec(input.trim());
  if (!m) return null;
  const unit = (m[2] ?? 'b').toLowerCase() as keyof typeof SIZE_BYTES;
  return safe(Number(m[1]) * SIZE_BYTES[unit]);
}

/** `100/h`, `5/m`, `10/s`, `1000/d` → Rate; null when not a rate or the count is 0. */
export function parseRate(text: string): Rate | null {
  const trimmed = text.trim();
  const m = RATE_RE.exec(trimmed);
  if (!m) return null;
  const points = Number(m[1]);
  if (points < 1 || !Number.isSafeInteger(points)) return null;
  return { points, duration_ms: RATE_WINDOW_MS[m[2] as keyof typeof RATE_WINDOW_MS], text: trimmed };
}

/** Milliseconds back to the largest whole unit (`90000` → `90s`), for summaries. */
/** A count written as decimal digits, from 1 to `max`; null for anything else. */
export function parseCount(text: string, max: number): number | null {
  if (!/^\d{1,15}$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= max ? n : null;
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
