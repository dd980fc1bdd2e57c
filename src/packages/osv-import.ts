import type { Kysely } from 'kysely';
import { record } from '../commands/kernel/index.ts';
import { ADVISORY_FEED_STREAM, packageEventSchemas } from '../commands/packages/index.ts';
import type { EventMetadata, EventStore } from '../eventstore/port.ts';
import { type AdvisoryTables, type ImportResult, importAdvisories } from './advisories.ts';
import { type OsvProgress, readOsvSource } from './osv/source.ts';

/**
 * Imports OSV data from a folder or a zip. New or changed advisories are stored under a new import
 * id and announced with `AdvisoriesImported`, which monitoring reacts to (packages already let in
 * that an advisory now affects get a finding). An import that changes nothing records nothing. A zip
 * is streamed one entry at a time; an archive refused or broken midway ends with `aborted` set.
 */
export async function importOsv(deps: {
  db: Kysely<AdvisoryTables>;
  store: EventStore;
  path: string;
  /** What the import is recorded as coming from (default `path`; the feed sync names its URL). */
  source?: string;
  maxEntryBytes?: number;
  onProgress?: (progress: OsvProgress) => void;
  clock?: () => Date;
  metadata?: EventMetadata;
}): Promise<ImportResult & { recorded: boolean }> {
  const clock = deps.clock ?? (() => new Date());
  const importId = `osv-${clock()
    .toISOString()
    .replace(/[-:.TZ]/g, '')}-${crypto.randomUUID().slice(0, 8)}`;
  const source = deps.source ?? deps.path;
  const result = await importAdvisories(
    deps.db,
    source,
    readOsvSource(deps.path, {
      ...(deps.maxEntryBytes !== undefined ? { maxEntryBytes: deps.maxEntryBytes } : {}),
      ...(deps.onProgress ? { onProgress: deps.onProgress } : {}),
    }),
    importId,
  );
  const recorded = result.changed > 0;
  if (recorded) {
    await record(
      deps.store,
      ADVISORY_FEED_STREAM,
      {
        type: 'AdvisoriesImported',
        data: {
          importId,
          source: source.slice(0, 2000),
          total: result.total,
          changed: result.changed,
          withdrawn: result.withdrawn,
          errors: result.errors.length,
          at: clock().toISOString(),
        },
      },
      packageEventSchemas,
      { metadata: deps.metadata ?? { actorId: 'cli:osv-import' } },
    );
  }
  return { ...result, recorded };
}
