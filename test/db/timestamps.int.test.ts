import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fastTimestamptz, TIMESTAMPTZ_OID } from '../../src/db/timestamps.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseUrl, freshPostgres } from '../support/postgres.ts';

/**
 * A Database on PostgreSQL reads timestamptz columns through the fast path (src/db/timestamps.ts):
 * whatever the session's time zone makes of the text (whole hours, half and quarter hours, a local
 * mean time offset with seconds, a year before 100, BC, infinity), the value read is the one
 * node-postgres's stock parser reads from the same text.
 */
describe.runIf(databaseUrl)('timestamptz values read from PostgreSQL', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await freshPostgres(1);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  const stock = pg.types.getTypeParser(TIMESTAMPTZ_OID, 'text') as (text: string) => Date | number | null;
  const timeOf = (value: unknown) => (value instanceof Date ? value.getTime() : value);
  const instants = [
    '2026-12-07 04:05:06.789012+00',
    '2026-06-30 23:59:59.5+00',
    '1970-01-01 00:00:00+00',
    '1800-01-01 12:00:00+00',
    '0050-01-01 00:00:00+00',
    '0044-03-15 12:00:00+00 BC',
    'infinity',
    '-infinity',
  ];

  it.each([
    'UTC',
    'Asia/Kolkata',
    'America/St_Johns',
    'Asia/Kathmandu',
    'Europe/Amsterdam',
    'Pacific/Kiritimati',
  ])('in time zone %s', async (zone) => {
    // One connection: the session's zone holds for the reads after it.
    await sql`select set_config('timezone', ${zone}, false)`.execute(t.database.db);
    for (const instant of instants) {
      const { rows } = await sql<{ value: unknown; text: string }>`
        select ${instant}::timestamptz as value, ${instant}::timestamptz::text as text`.execute(
        t.database.db,
      );
      const [row] = rows;
      expect(timeOf(row!.value), `${instant} read in ${zone} as ${row!.text}`).toStrictEqual(
        timeOf(stock(row!.text)),
      );
      // This century's instants, as the server writes them in any of these zones, take the fast path.
      if (instant.startsWith('2026')) expect(fastTimestamptz(row!.text), row!.text).toBeTypeOf('number');
    }
  });
});
