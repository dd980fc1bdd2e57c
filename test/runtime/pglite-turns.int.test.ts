import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPGlite, type PGliteDatabase } from '../../src/db/database.ts';

/**
 * Embedded PGlite runs each statement on the event loop's thread and answers with resolved promises,
 * so a chain of statements ran from end to end without the loop getting a turn: no timer, no socket,
 * no HTTP request in between (a 3,000-package lockfile held /health for 7.4 s). The dialect now gives
 * the loop a turn before a statement once PGlite has held it for PGLITE_TURN_MS.
 */
/** Counts the event loop's turns (an immediate that schedules the next) until stopped. */
function countTurns(): { turns(): number; stop(): void } {
  let turns = 0;
  let ticking = true;
  const tick = () => {
    if (!ticking) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  return {
    turns: () => turns,
    stop: () => {
      ticking = false;
    },
  };
}

describe('embedded PGlite lets the event loop in between statements', { timeout: 120_000 }, () => {
  let database: PGliteDatabase;
  beforeAll(async () => {
    database = await connectPGlite();
  }, 60_000);
  afterAll(async () => {
    await database?.close();
  });

  it('a chain of statements, each longer than PGLITE_TURN_MS, lets immediates run between them', async () => {
    // Each statement counts a million rows: tens of milliseconds in PGlite, never under the limit.
    const heavy = () => sql`select count(*) from generate_series(1, 1000000)`.execute(database.db);
    await heavy();
    const loop = countTurns();
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) {
      await heavy();
      seen.push(loop.turns());
    }
    loop.stop();
    // The loop had a turn before each of the statements after the first.
    expect(seen[3]! - seen[0]!).toBeGreaterThanOrEqual(3);
  });

  it('inside a transaction too, and the transaction is still one holder: its statements are not interleaved', async () => {
    await sql`create table turns_probe (n int)`.execute(database.db);
    const other: Promise<unknown>[] = [];
    let turns = 0;
    await database.db.transaction().execute(async (tx) => {
      const loop = countTurns();
      for (let n = 0; n < 4; n++) {
        await sql`select count(*) from generate_series(1, 1000000)`.execute(tx);
        await sql`insert into turns_probe values (${n})`.execute(tx);
        // Another holder's statement, asked for while the transaction holds PGlite: it waits.
        other.push(sql`insert into turns_probe values (${100 + n})`.execute(database.db));
      }
      loop.stop();
      turns = loop.turns();
      const inside = await sql<{ n: number }>`select n from turns_probe order by n`.execute(tx);
      expect(inside.rows.map((r) => r.n)).toEqual([0, 1, 2, 3]);
    });
    await Promise.all(other);
    expect(turns).toBeGreaterThanOrEqual(3);
    const after = await sql<{ n: number }>`select n from turns_probe order by n`.execute(database.db);
    expect(after.rows.map((r) => r.n)).toEqual([0, 1, 2, 3, 100, 101, 102, 103]);
  });
});
