import { type Generated, type Kysely, sql } from 'kysely';
import type { Finding } from '../commands/packages/index.ts';
import { affectedVersions, findingFrom, isMalicious, isWithdrawn } from './osv/match.ts';
import type { OsvRecord } from './osv/record.ts';
import type { OsvItem } from './osv/source.ts';

export interface AdvisoriesTable {
  id: string;
  modified: string;
  withdrawn: boolean;
  malicious: boolean;
  record: unknown;
  import_id: string;
  imported_at: Generated<Date>;
}
export type AdvisoryTables = {
  warden_advisories: AdvisoriesTable;
  warden_advisory_packages: { name: string; advisory_id: string };
  warden_advisory_imports: {
    import_id: string;
    source: string;
    total: number;
    changed: number;
    imported_at: Generated<Date>;
  };
};

/** npm package names an OSV record is about (other ecosystems are not Warden's). */
export function npmNamesOf(record: OsvRecord): string[] {
  const names = new Set<string>();
  for (const affected of record.affected ?? []) {
    if (affected.package?.ecosystem === 'npm' && affected.package.name) names.add(affected.package.name);
  }
  return [...names];
}

export interface ImportResult {
  importId: string;
  total: number;
  changed: number;
  withdrawn: number;
  errors: { file: string; error: string }[];
  /**
   * Why reading the source stopped early (an archive refused or broken midway). What was stored
   * before stays and is recorded as this import, so monitoring sees it; the rest is not read.
   */
  aborted?: string;
}

/**
 * Stores OSV records: new ones and ones whose `modified` changed are written with this import's id
 * (that is how monitoring finds what to re-check); the rest are left as they were. Records about no
 * npm package are skipped.
 */
export async function importAdvisories(
  db: Kysely<AdvisoryTables>,
  source: string,
  records: AsyncIterable<OsvItem>,
  importId: string,
): Promise<ImportResult> {
  const result: ImportResult = { importId, total: 0, changed: 0, withdrawn: 0, errors: [] };
  let batch: OsvRecord[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const records = batch;
    batch = [];
    await db.transaction().execute(async (trx) => {
      const known = new Map(
        (
          await trx
            .selectFrom('warden_advisories')
            .select(['id', 'modified'])
            .where(
              'id',
              'in',
              records.map((r) => r.id),
            )
            .execute()
        ).map((r) => [r.id, r.modified]),
      );
      for (const record of records) {
        if (known.get(record.id) === record.modified) continue;
        result.changed++;
        const row = {
          id: record.id,
          modified: record.modified,
          withdrawn: isWithdrawn(record),
          malicious: isMalicious(record),
          record: JSON.stringify(record),
          import_id: importId,
        };
        await trx
          .insertInto('warden_advisories')
          .values(row)
          .onConflict((oc) => oc.column('id').doUpdateSet({ ...row, imported_at: sql`now()` }))
          .execute();
        await trx.deleteFrom('warden_advisory_packages').where('advisory_id', '=', record.id).execute();
        const names = npmNamesOf(record);
        if (names.length > 0) {
          await trx
            .insertInto('warden_advisory_packages')
            .values(names.map((name) => ({ name, advisory_id: record.id })))
            .onConflict((oc) => oc.doNothing())
            .execute();
        }
      }
    });
  };
  try {
    for await (const entry of records) {
      if (!entry.ok) {
        result.errors.push({ file: entry.file, error: entry.error });
        continue;
      }
      const item = entry.record;
      if (npmNamesOf(item).length === 0) continue;
      result.total++;
      if (isWithdrawn(item)) result.withdrawn++;
      batch.push(item);
      if (batch.length >= 500) await flush();
    }
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_OSV_ARCHIVE') throw error;
    result.aborted = (error as Error).message.slice(0, 2000);
  }
  await flush();
  // An import that changed nothing is no new data version.
  if (result.changed === 0) return result;
  await db
    .insertInto('warden_advisory_imports')
    .values({ import_id: importId, source, total: result.total, changed: result.changed })
    .execute();
  return result;
}

/** The newest import's id, or null when no advisory data was ever imported (scans then cannot run). */
export async function latestImport(db: Kysely<AdvisoryTables>): Promise<string | null> {
  const row = await db
    .selectFrom('warden_advisory_imports')
    .select('import_id')
    .orderBy('imported_at', 'desc')
    .orderBy('import_id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.import_id ?? null;
}

const parse = (value: unknown): OsvRecord =>
  (typeof value === 'string' ? JSON.parse(value) : value) as OsvRecord;

/** Findings of the stored (not withdrawn) advisories for one package version. */
export async function advisoryFindings(
  db: Kysely<AdvisoryTables>,
  name: string,
  version: string,
  options: { importId?: string } = {},
): Promise<Finding[]> {
  let query = db
    .selectFrom('warden_advisory_packages as p')
    .innerJoin('warden_advisories as a', 'a.id', 'p.advisory_id')
    .select(['a.record'])
    .where('p.name', '=', name)
    .where('a.withdrawn', '=', false);
  if (options.importId) query = query.where('a.import_id', '=', options.importId);
  const rows = await query.execute();
  const findings: Finding[] = [];
  for (const row of rows) {
    const record = parse(row.record);
    if (affectedVersions(record, name, version).affected) findings.push(findingFrom(record, name, version));
  }
  return findings.sort((a, b) => a.id.localeCompare(b.id));
}

/** Package names that advisories changed by one import are about (monitoring re-checks those). */
export async function namesChangedBy(db: Kysely<AdvisoryTables>, importId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('warden_advisory_packages as p')
    .innerJoin('warden_advisories as a', 'a.id', 'p.advisory_id')
    .select('p.name')
    .distinct()
    .where('a.import_id', '=', importId)
    .where('a.withdrawn', '=', false)
    .orderBy('p.name')
    .execute();
  return rows.map((r) => r.name);
}
