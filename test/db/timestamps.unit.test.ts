import fc from 'fast-check';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { fastTimestamptz, TIMESTAMPTZ_OID, timestamptzParser } from '../../src/db/timestamps.ts';

/*
 * Every event read carries a timestamptz, which node-postgres parses with a set of regular
 * expressions. The fast path must read PostgreSQL's text exactly as that stock parser does, and hand
 * every form it does not read itself to it.
 */
const stock = pg.types.getTypeParser(TIMESTAMPTZ_OID, 'text') as (text: string) => Date | number | null;
const parse = timestamptzParser(stock);
const timeOf = (value: Date | number | null) => (value instanceof Date ? value.getTime() : value);

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** PostgreSQL's text of a timestamptz (ISO DateStyle) from its parts. */
const pgText = fc
  .record({
    year: fc.integer({ min: 100, max: 9999 }),
    month: fc.integer({ min: 1, max: 12 }),
    day: fc.integer({ min: 1, max: 28 }),
    hour: fc.integer({ min: 0, max: 23 }),
    minute: fc.integer({ min: 0, max: 59 }),
    second: fc.integer({ min: 0, max: 59 }),
    // PostgreSQL drops trailing zeros of the fraction: 1 to 6 digits, or none.
    fraction: fc.option(fc.stringMatching(/^\d{0,5}[1-9]$/), { nil: undefined }),
    sign: fc.constantFrom('+', '-'),
    offsetHours: fc.integer({ min: 0, max: 15 }),
    offsetMinutes: fc.option(fc.constantFrom(15, 30, 45), { nil: undefined }),
  })
  .map(
    (p) =>
      `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}` +
      `${p.fraction === undefined ? '' : `.${p.fraction}`}${p.sign}${pad(p.offsetHours)}` +
      `${p.offsetMinutes === undefined ? '' : `:${pad(p.offsetMinutes)}`}`,
  );

describe('reading timestamptz text', () => {
  it('reads the common form as the stock parser does, to the millisecond', () => {
    fc.assert(
      fc.property(pgText, (text) => {
        const fast = fastTimestamptz(text);
        expect(fast).toBeTypeOf('number');
        expect(fast).toBe(timeOf(stock(text)));
        expect(timeOf(parse(text))).toBe(fast);
      }),
      { numRuns: 5000 },
    );
  });

  it('cuts fractions beyond the millisecond, as a Date does', () => {
    expect(new Date(fastTimestamptz('2026-12-07 04:05:06.789999+00')!).toISOString()).toBe(
      '2026-12-07T04:05:06.789Z',
    );
    expect(new Date(fastTimestamptz('2026-12-07 04:05:06.1+05:30')!).toISOString()).toBe(
      '2026-12-06T22:35:06.100Z',
    );
    expect(new Date(fastTimestamptz('2026-12-07 00:00:00-03:30')!).toISOString()).toBe(
      '2026-12-07T03:30:00.000Z',
    );
  });

  it.each([
    ['infinity'],
    ['-infinity'],
    // Date.UTC reads the years 0–99 as 1900–1999.
    ['0099-06-01 00:00:00+00'],
    ['0044-03-15 12:00:00+00 BC'],
    ['12026-01-01 00:00:00+00'],
    // A local mean time offset, with seconds (Amsterdam before 1937).
    ['1800-01-01 00:00:00+00:19:32'],
    ['2026-12-07 04:05:06.+00'],
    ['2026-12-07 04:05:06'],
    ['2026-12-07T04:05:06Z'],
    ['2026-13-07 04:05:06+00x'],
    ['2026-1x-07 04:05:06+00'],
  ])('hands %s to the stock parser', (text) => {
    expect(fastTimestamptz(text)).toBeUndefined();
    expect(timeOf(parse(text))).toStrictEqual(timeOf(stock(text)));
  });
});
