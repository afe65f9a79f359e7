// Duration strings as gantry.yaml and Temporal timers accept them: table-driven.
import { describe, expect, it } from '@jest/globals';
import { durationMs, formatDuration, parseDuration } from '../../core/duration.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('parseDuration', () => {
  it.each<{ name: string; input: string | number; want: number }>([
    { name: 'seconds', input: '30s', want: 30 * S },
    { name: 'minutes', input: '10m', want: 10 * M },
    { name: 'hours', input: '48h', want: 48 * H },
    { name: 'days', input: '3d', want: 3 * D },
    { name: 'long unit with a space', input: '2 days', want: 2 * D },
    { name: 'singular long unit', input: '1 hour', want: H },
    { name: 'weeks', input: '1w', want: 7 * D },
    { name: 'milliseconds', input: '250ms', want: 250 },
    { name: 'fractional hours', input: '1.5h', want: 1.5 * H },
    { name: 'zero seconds', input: '0s', want: 0 },
    { name: 'zero minutes', input: '0m', want: 0 },
    { name: 'bare zero (no unit needed for nothing)', input: '0', want: 0 },
    { name: 'surrounding whitespace is trimmed', input: '  10m ', want: 10 * M },
    { name: 'upper-case unit', input: '5M', want: 5 * M },
    { name: 'a number is already milliseconds', input: 1500, want: 1500 },
    { name: 'the number zero', input: 0, want: 0 },
  ])('$name: $input -> $want ms', ({ input, want }) => {
    expect(parseDuration(input)).toBe(want);
  });

  it.each<{ name: string; input: string | number }>([
    { name: 'bare number (ms would read it as milliseconds)', input: '10' },
    { name: 'bare decimal number', input: '1.5' },
    { name: 'bare number with a leading dot', input: '.5' },
    { name: 'bare negative zero', input: '-0' },
    { name: 'words', input: 'abc' },
    { name: 'negative seconds', input: '-1s' },
    { name: 'negative minutes', input: '-5m' },
    { name: 'unknown unit', input: '10 fortnights' },
    { name: 'two values', input: '1h 30m' },
    { name: 'exponent notation', input: '1e3s' },
    { name: 'Infinity string', input: 'Infinity' },
    { name: 'empty string', input: '' },
    { name: 'only whitespace', input: '   ' },
    { name: 'longer than ms accepts (101 chars)', input: `${'1'.repeat(100)}s` },
    { name: 'negative number', input: -1 },
    { name: 'NaN', input: Number.NaN },
    { name: 'Infinity', input: Number.POSITIVE_INFINITY },
  ])('$name: $input is not a duration', ({ input }) => {
    expect(parseDuration(input)).toBeUndefined();
  });
});

describe('durationMs', () => {
  it.each([
    { name: 'valid string', input: '10m', want: 10 * M },
    { name: 'valid number', input: 42, want: 42 },
  ])('$name: $input -> $want', ({ input, want }) => {
    expect(durationMs(input)).toBe(want);
  });

  it.each([
    { name: 'bare number string', input: '10', error: /invalid duration "10"/ },
    { name: 'garbage', input: 'soon', error: /invalid duration "soon"/ },
    { name: 'negative number', input: -5, error: /invalid duration -5/ },
    { name: 'empty string', input: '', error: /invalid duration ""/ },
  ])('$name: $input throws', ({ input, error }) => {
    expect(() => durationMs(input)).toThrow(error);
  });
});

describe('formatDuration', () => {
  it.each([
    { name: 'zero', input: 0, want: '0ms' },
    { name: 'sub-second', input: 250, want: '250ms' },
    { name: 'sub-second fraction is rounded', input: 249.6, want: '250ms' },
    { name: 'just under a second', input: 999, want: '999ms' },
    { name: 'one second', input: S, want: '1s' },
    { name: 'thirty seconds', input: 30 * S, want: '30s' },
    { name: 'ten minutes', input: 10 * M, want: '10m' },
    { name: 'one hour', input: H, want: '1h' },
    { name: '48 hours shows as days', input: 48 * H, want: '2d' },
    { name: 'three days', input: 3 * D, want: '3d' },
    { name: '1.5 s rounds to the nearest unit', input: 1500, want: '2s' },
  ])('$name: $input -> $want', ({ input, want }) => {
    expect(formatDuration(input)).toBe(want);
  });

  it.each(['30s', '10m', '1h', '3d', '250ms'])('round-trips %s', (text) => {
    expect(formatDuration(durationMs(text))).toBe(text);
  });
});
