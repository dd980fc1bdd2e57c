import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AUTOVACUUM_DEFAULTS, type TableActivity, upkeepDue } from '../../src/db/upkeep.ts';

const table = (activity: Partial<TableActivity>): TableActivity => ({
  schema: 'public',
  table: 'warden_jobs',
  estimatedRows: 1000,
  deadRows: 0,
  insertedSinceVacuum: 0,
  modifiedSinceAnalyze: 0,
  xidAge: 1000,
  lastVacuumAt: null,
  lastAnalyzeAt: null,
  ...activity,
});

describe('upkeepDue: what autovacuum would do to a table', () => {
  it('vacuums past 50 + 20% of the rows dead, and not at the threshold itself', () => {
    // 1,000 rows: 50 + 200 = 250.
    expect(upkeepDue(table({ deadRows: 250 }))).toBeUndefined();
    expect(upkeepDue(table({ deadRows: 251 }))).toBe('vacuum');
  });

  it('vacuums past 1,000 + 20% of the rows inserted since the last vacuum (an append-only table too)', () => {
    expect(upkeepDue(table({ insertedSinceVacuum: 1200 }))).toBeUndefined();
    expect(upkeepDue(table({ insertedSinceVacuum: 1201 }))).toBe('vacuum');
  });

  it('analyzes past 50 + 10% of the rows changed since the last analyze, with the vacuum when both are due', () => {
    expect(upkeepDue(table({ modifiedSinceAnalyze: 150 }))).toBeUndefined();
    expect(upkeepDue(table({ modifiedSinceAnalyze: 151 }))).toBe('analyze');
    expect(upkeepDue(table({ modifiedSinceAnalyze: 151, deadRows: 251 }))).toBe('vacuum_analyze');
  });

  it('counts a table never vacuumed nor analyzed (reltuples -1) as empty', () => {
    const fresh = { estimatedRows: -1 };
    expect(upkeepDue(table({ ...fresh, deadRows: 51 }))).toBe('vacuum');
    expect(upkeepDue(table({ ...fresh, insertedSinceVacuum: 1001 }))).toBe('vacuum');
    expect(upkeepDue(table({ ...fresh, modifiedSinceAnalyze: 51 }))).toBe('analyze');
    expect(upkeepDue(table({ ...fresh, deadRows: 50, insertedSinceVacuum: 1000 }))).toBeUndefined();
  });

  it('never analyzes pg_statistic, which ANALYZE skips (its count would call for it at every pass), but vacuums it', () => {
    const statistics = { schema: 'pg_catalog', table: 'pg_statistic' };
    expect(upkeepDue(table({ ...statistics, modifiedSinceAnalyze: 1_000_000 }))).toBeUndefined();
    expect(upkeepDue(table({ ...statistics, modifiedSinceAnalyze: 1_000_000, deadRows: 251 }))).toBe(
      'vacuum',
    );
    expect(upkeepDue(table({ schema: 'public', table: 'pg_statistic', modifiedSinceAnalyze: 151 }))).toBe(
      'analyze',
    );
  });

  it('caps the dead-row threshold of a huge table at 100 million, as PostgreSQL 18 does', () => {
    const huge = { estimatedRows: 2_000_000_000 };
    expect(upkeepDue(table({ ...huge, deadRows: 100_000_001 }))).toBe('vacuum');
  });

  it('freezes a table past 200 million transactions old, whatever else it needs', () => {
    expect(upkeepDue(table({ xidAge: 200_000_000 }))).toBeUndefined();
    expect(upkeepDue(table({ xidAge: 200_000_001 }))).toBe('freeze');
    expect(upkeepDue(table({ xidAge: 200_000_001, deadRows: 1_000_000 }))).toBe('freeze');
  });

  const activity = fc.record({
    estimatedRows: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 1e9 })),
    deadRows: fc.integer({ min: 0, max: 1e9 }),
    insertedSinceVacuum: fc.integer({ min: 0, max: 1e9 }),
    modifiedSinceAnalyze: fc.integer({ min: 0, max: 1e9 }),
    xidAge: fc.integer({ min: 0, max: 2e9 }),
  });
  const vacuums = (a: TableActivity) => ['vacuum', 'vacuum_analyze', 'freeze'].includes(upkeepDue(a) ?? '');
  const analyzes = (a: TableActivity) => ['analyze', 'vacuum_analyze', 'freeze'].includes(upkeepDue(a) ?? '');

  it('more activity never takes an action away (property)', () => {
    fc.assert(
      fc.property(
        activity,
        fc.integer({ min: 0, max: 1e9 }),
        fc.constantFrom('deadRows', 'insertedSinceVacuum', 'modifiedSinceAnalyze', 'xidAge'),
        (a, more, field) => {
          const before = table(a);
          const after = { ...before, [field]: before[field] + more };
          if (vacuums(before)) expect(vacuums(after)).toBe(true);
          if (analyzes(before)) expect(analyzes(after)).toBe(true);
        },
      ),
    );
  });

  it('a larger table needs more activity before anything is done (property)', () => {
    fc.assert(
      fc.property(activity, fc.integer({ min: 1, max: 1e9 }), (a, more) => {
        const smaller = table(a);
        const larger = { ...smaller, estimatedRows: Math.max(0, smaller.estimatedRows) + more };
        if (vacuums(larger)) expect(vacuums(smaller)).toBe(true);
        if (analyzes(larger)) expect(analyzes(smaller)).toBe(true);
      }),
    );
  });

  it('acts exactly when a count passes its threshold (property)', () => {
    const t = AUTOVACUUM_DEFAULTS;
    fc.assert(
      fc.property(activity, (a) => {
        const rows = Math.max(0, a.estimatedRows);
        const due =
          a.xidAge > t.freezeMaxAge ||
          a.deadRows > Math.min(t.vacuumMaxThreshold, t.vacuumThreshold + t.vacuumScaleFactor * rows) ||
          a.insertedSinceVacuum > t.insertThreshold + t.insertScaleFactor * rows ||
          a.modifiedSinceAnalyze > t.analyzeThreshold + t.analyzeScaleFactor * rows;
        expect(upkeepDue(table(a)) !== undefined).toBe(due);
      }),
    );
  });
});
