// Durations, sizes and rates: every unit, the edges, and the inputs that must be refused.
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parseRate, parseSize } from '../../config/units.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['0s', 0],
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    [' 2h ', 7_200_000],
  ])('%s → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '30', '1.5h', '-1s', '1H', '1M', '10 s', '1w', 's', '1h30m', '99999999999999999d'])(
    'refuses %j',
    (text) => {
      expect(parseDuration(text)).toBeNull();
    },
  );
});

describe('parseSize', () => {
  it.each([
    ['512b', 512],
    ['64kb', 65_536],
    ['64KB', 65_536],
    ['1mb', 1_048_576],
    ['1Mb', 1_048_576],
    ['1gb', 1_073_741_824],
    ['1024', 1024],
    [0, 0],
    [4096, 4096],
  ] as const)('%j → %d bytes', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it.each(['', '1.5mb', '-1', '1 tb', 'mb', '1m', 1.5, -1, Number.NaN])('refuses %j', (input) => {
    expect(parseSize(input)).toBeNull();
  });
});

describe('parseRate', () => {
  it.each([
    ['100/h', 100, 3_600_000],
    ['5/m', 5, 60_000],
    ['10/s', 10, 1_000],
    ['1000/d', 1000, 86_400_000],
  ])('%s', (text, points, duration_ms) => {
    expect(parseRate(text)).toEqual({ points, duration_ms, text });
  });

  it.each(['', '0/m', '100', '100/hour', '1.5/s', '/m', '-1/s', '10/ s', '10/w'])('refuses %j', (text) => {
    expect(parseRate(text)).toBeNull();
  });
});

describe('formatDuration', () => {
  it.each([
    [86_400_000, '1d'],
    [5_400_000, '90m'],
    [30_000, '30s'],
    [1_500, '1500ms'],
    [0, '0ms'],
  ])('%d → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
