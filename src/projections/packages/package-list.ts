import { type Kysely, sql } from 'kysely';
import {
  type Finding,
  type PackageEvent,
  packageEventTypes,
  severities,
} from '../../commands/packages/index.ts';
import type { RecordedEvent } from '../../eventstore/port.ts';
import type { Projection } from '../engine/projection.ts';

export interface PackageListTable {
  id: string;
  tenant_id: string;
  spec: string;
  name: string;
  version: string;
  status: string;
  /** The license that counts: the tarball's once downloaded, the lockfile's before. */
  license: string | null;
  lockfile_license: string | null;
  integrity: string | null;
  size: number | null;
  findings: unknown;
  findings_count: number;
  max_severity: string | null;
  reasons: string[];
  warnings: string[];
  waivers: unknown;
  /** New findings after it was let in (continuous monitoring): approvers look here. */
  attention: boolean;
  decided_by: string | null;
  reason: string | null;
  policy_version: number | null;
  failure: unknown;
  request_id: string;
  received_at: Date;
  processing_at: Date | null;
  downloaded_at: Date | null;
  scanned_at: Date | null;
  decided_at: Date | null;
  published_at: Date | null;
  updated_at: Date;
  revision: number;
  position: string;
}

export type PackageListTables = { package_list: PackageListTable };

const worst = (findings: readonly Finding[]): string | null => {
  let index: number = severities.length;
  for (const f of findings) index = Math.min(index, severities.indexOf(f.severity));
  return (severities as readonly string[])[index] ?? null;
};

const json = (value: unknown) => JSON.stringify(value);
const parse = <T>(value: unknown): T => (typeof value === 'string' ? JSON.parse(value) : value) as T;

/** One row per package and tenant: lists, filters, search, approvals and stats read it. */
export const packageList: Projection<PackageListTables> = {
  name: 'packageList',
  version: 1,
  types: packageEventTypes,
  tables: ['package_list'],
  async createTables(db: Kysely<unknown>) {
    await db.schema
      .createTable('package_list')
      .addColumn('id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('version', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('license', 'text')
      .addColumn('lockfile_license', 'text')
      .addColumn('integrity', 'text')
      .addColumn('size', 'integer')
      .addColumn('findings', 'jsonb', (c) => c.notNull())
      .addColumn('findings_count', 'integer', (c) => c.notNull())
      .addColumn('max_severity', 'text')
      .addColumn('reasons', sql`text[]`, (c) => c.notNull())
      .addColumn('warnings', sql`text[]`, (c) => c.notNull())
      .addColumn('waivers', 'jsonb', (c) => c.notNull())
      .addColumn('attention', 'boolean', (c) => c.notNull())
      .addColumn('decided_by', 'text')
      .addColumn('reason', 'text')
      .addColumn('policy_version', 'integer')
      .addColumn('failure', 'jsonb')
      .addColumn('request_id', 'uuid', (c) => c.notNull())
      .addColumn('received_at', 'timestamptz', (c) => c.notNull())
      .addColumn('processing_at', 'timestamptz')
      .addColumn('downloaded_at', 'timestamptz')
      .addColumn('scanned_at', 'timestamptz')
      .addColumn('decided_at', 'timestamptz')
      .addColumn('published_at', 'timestamptz')
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('package_list_tenant_spec')
      .on('package_list')
      .columns(['tenant_id', 'spec'])
      .unique()
      .execute();
  },
  async createIndexes(db: Kysely<unknown>) {
    await db.schema
      .createIndex('package_list_tenant_status')
      .on('package_list')
      .columns(['tenant_id', 'status', 'received_at', 'id'])
      .execute();
    await db.schema
      .createIndex('package_list_tenant_received')
      .on('package_list')
      .columns(['tenant_id', 'received_at', 'id'])
      .execute();
  },
  apply: (recorded: RecordedEvent, db: Kysely<PackageListTables>) => applyAll([recorded], db),
  applyBatch: (events: readonly RecordedEvent[], db: Kysely<PackageListTables>) => applyAll(events, db),
};

type Changes = Partial<Record<keyof PackageListTable, unknown>>;
/** What a package's later events need of its row. */
interface Current {
  findings: unknown;
  waivers: unknown;
  revision: number;
  status: string;
}

function receivedRow(recorded: RecordedEvent, event: Extract<PackageEvent, { type: 'PackageReceived' }>) {
  const common = { revision: recorded.revision, position: recorded.position.toString() };
  const d = event.data;
  const when = new Date(d.at);
  return {
    id: d.packageId,
    tenant_id: d.tenantId,
    spec: d.spec,
    name: d.name,
    version: d.version,
    status: 'received',
    license: d.lockfileLicense,
    lockfile_license: d.lockfileLicense,
    integrity: d.integrity,
    size: null,
    findings: json([]),
    findings_count: 0,
    max_severity: null,
    reasons: [],
    warnings: [],
    waivers: json({}),
    attention: false,
    decided_by: null,
    reason: null,
    policy_version: null,
    failure: null,
    request_id: d.requestId,
    received_at: when,
    processing_at: null,
    downloaded_at: null,
    scanned_at: null,
    decided_at: null,
    published_at: null,
    updated_at: when,
    ...common,
  };
}

/** The columns an event changes on the package's row, given the row as earlier events left it. */
function changesOf(event: PackageEvent, current: Current, when: Date): Changes {
  const changes: Changes = {};
  switch (event.type) {
    case 'PackageRequestLinked':
      break;
    case 'PackageProcessingStarted':
      Object.assign(changes, { status: 'license_check', processing_at: when, failure: null });
      break;
    case 'LicenseChecked':
      Object.assign(changes, { status: 'downloading' });
      break;
    case 'PackageDownloaded':
      Object.assign(changes, {
        status: 'scanning',
        integrity: event.data.integrity,
        size: event.data.size,
        license: event.data.manifestLicense,
        downloaded_at: when,
      });
      break;
    case 'PackageScanned':
      Object.assign(changes, {
        findings: json(event.data.findings),
        findings_count: event.data.findings.length,
        max_severity: worst(event.data.findings),
        scanned_at: when,
      });
      break;
    case 'ApprovalRequired':
      Object.assign(changes, {
        status: 'awaiting_approval',
        reasons: event.data.reasons,
        policy_version: event.data.policyVersion,
      });
      break;
    case 'PackageAutoApproved':
      Object.assign(changes, {
        status: 'approved',
        reasons: [],
        warnings: event.data.warnings,
        decided_by: 'policy',
        reason: 'no blocking findings',
        policy_version: event.data.policyVersion,
        decided_at: when,
      });
      break;
    case 'PackageApproved':
      Object.assign(changes, {
        status: 'approved',
        decided_by: event.data.by,
        reason: event.data.reason,
        policy_version: event.data.policyVersion,
        decided_at: when,
      });
      break;
    case 'PackageRejected':
      Object.assign(changes, {
        status: 'rejected',
        decided_by: event.data.by,
        reason: event.data.reason,
        policy_version: event.data.policyVersion,
        failure: json({ stage: event.data.stage, code: event.data.code }),
        decided_at: when,
      });
      break;
    case 'FindingWaived': {
      const waivers = parse<Record<string, unknown>>(current.waivers);
      waivers[event.data.findingId] = {
        expires_at: event.data.expiresAt,
        by: event.data.by,
        reason: event.data.reason,
      };
      Object.assign(changes, { waivers: json(waivers) });
      break;
    }
    case 'FindingDiscovered': {
      const findings = [...parse<Finding[]>(current.findings), event.data.finding];
      Object.assign(changes, {
        findings: json(findings),
        findings_count: findings.length,
        max_severity: worst(findings),
        attention: ['approved', 'publishing', 'published'].includes(current.status),
      });
      break;
    }
    case 'PackagePublishing':
      Object.assign(changes, { status: 'publishing' });
      break;
    case 'PackagePublished':
      Object.assign(changes, { status: 'published', published_at: when });
      break;
    case 'PackageFailed':
      Object.assign(changes, {
        status: 'failed',
        reason: event.data.reason,
        failure: json({
          stage: event.data.stage,
          code: event.data.code,
          retryable: event.data.retryable,
          attempts: event.data.attempts,
        }),
      });
      break;
    case 'PackageRetried':
      Object.assign(changes, { status: event.data.resume, failure: null, reason: null, reasons: [] });
      break;
  }
  return changes;
}

/**
 * Folds events into rows, set-based: new packages in one insert, then every other event folded in
 * memory onto its package's row (read once), and one update per package. A package's check events
 * come in one append, so a batch typically turns six updates of a row into one.
 */
async function applyAll(events: readonly RecordedEvent[], db: Kysely<PackageListTables>): Promise<void> {
  const received = events.filter((e) => e.type === 'PackageReceived');
  for (let i = 0; i < received.length; i += 500) {
    await db
      .insertInto('package_list')
      .values(
        received
          .slice(i, i + 500)
          .map((r) => receivedRow(r, r as unknown as Extract<PackageEvent, { type: 'PackageReceived' }>)),
      )
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }
  const others = events.filter((e) => e.type !== 'PackageReceived');
  if (others.length === 0) return;
  const ids = [...new Set(others.map((e) => (e.data as { packageId: string }).packageId))];
  const rows = await db
    .selectFrom('package_list')
    .select(['id', 'findings', 'waivers', 'revision', 'status'])
    .where('id', 'in', ids)
    .execute();
  const folded = new Map(rows.map((r) => [r.id, { current: r as Current, changes: {} as Changes }]));
  for (const recorded of others) {
    const event = recorded as unknown as RecordedEvent & PackageEvent;
    const row = folded.get(event.data.packageId);
    if (!row || row.current.revision >= recorded.revision) continue;
    const when = new Date(event.data.at);
    const changes = changesOf(event, row.current, when);
    Object.assign(row.changes, changes, {
      updated_at: when,
      revision: recorded.revision,
      position: recorded.position.toString(),
    });
    row.current = {
      findings: changes.findings ?? row.current.findings,
      waivers: changes.waivers ?? row.current.waivers,
      status: typeof changes.status === 'string' ? changes.status : row.current.status,
      revision: recorded.revision,
    };
  }
  for (const [id, { changes }] of folded) {
    if (Object.keys(changes).length === 0) continue;
    await db
      .updateTable('package_list')
      .set(changes as never)
      .where('id', '=', id)
      .execute();
  }
}
