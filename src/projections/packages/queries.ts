import { type Kysely, sql } from 'kysely';
import { containsPattern, keysetAfter, pageWithCursor } from '../engine/index.ts';
import type { PackageListTable, PackageListTables } from './package-list.ts';
import type { PackageRequestTables } from './package-requests.ts';

type DB = PackageListTables & PackageRequestTables;

export interface PackageFilters {
  tenantId: string;
  status?: string;
  license?: string;
  severity?: string;
  attention?: boolean;
  q?: string;
  limit: number;
  cursor?: string;
}

const PACKAGE_SORT = '-received_at';
const REQUEST_SORT = '-created_at';
const isoKey = (value: Date | string) => new Date(value).toISOString();

/** A page of the tenant's packages, newest first; `q` matches the name, `license` the license text. */
export async function packagePage(db: Kysely<DB>, filters: PackageFilters) {
  let query = db.selectFrom('package_list').selectAll().where('tenant_id', '=', filters.tenantId);
  if (filters.status) query = query.where('status', '=', filters.status);
  if (filters.license) query = query.where('license', '=', filters.license);
  if (filters.severity) query = query.where('max_severity', '=', filters.severity);
  if (filters.attention !== undefined) query = query.where('attention', '=', filters.attention);
  if (filters.q) query = query.where('name', 'ilike', containsPattern(filters.q));
  if (filters.cursor) query = query.where(keysetAfter(filters.cursor, PACKAGE_SORT));
  const rows = await query
    .orderBy('received_at', 'desc')
    .orderBy('id', 'desc')
    .limit(filters.limit + 1)
    .execute();
  return pageWithCursor(rows, filters.limit, PACKAGE_SORT, (r) => isoKey(r.received_at));
}

export async function packageRow(db: Kysely<DB>, tenantId: string, spec: string) {
  return db
    .selectFrom('package_list')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('spec', '=', spec)
    .executeTakeFirst();
}

/** Which of these packages (`name@version`) the tenant's package list shows rejected. */
export async function rejectedSpecs(
  db: Kysely<PackageListTables>,
  tenantId: string,
  specs: readonly string[],
) {
  if (specs.length === 0) return new Set<string>();
  const rows = await db
    .selectFrom('package_list')
    .select('spec')
    .where('tenant_id', '=', tenantId)
    .where('status', '=', 'rejected')
    .where('spec', 'in', specs)
    .execute();
  return new Set(rows.map((row) => row.spec));
}

const DONE = ['published', 'rejected', 'failed'];

/** A request's status, as its list filters and its view name it. */
export const requestStatuses = [
  'received',
  'processing',
  'awaiting_approval',
  'completed',
  'completed_with_unsupported',
  'failed',
] as const;
export type RequestStatus = (typeof requestStatuses)[number];

export interface RequestProgress {
  total: number;
  done: number;
  counts: Record<string, number>;
  status: RequestStatus;
}

/**
 * A request's status from its packages: `completed` when every package ended (published or
 * rejected), `completed_with_unsupported` so when the lockfile also named entries Warden never fetches
 * (the install would still miss them), `failed` when one failed, `awaiting_approval` when what
 * remains waits for an approver, `received` while nothing has moved yet, `processing` otherwise.
 * `requestStatusSql` is the same rule in SQL (the list's status filter); a test holds them equal.
 */
export function progressOf(total: number, counts: Record<string, number>, unsupported = 0): RequestProgress {
  const count = (statuses: readonly string[]) => statuses.reduce((n, s) => n + (counts[s] ?? 0), 0);
  const done = count(DONE);
  // Packages not in the list yet (the pipeline has not received them) count as received.
  const listed = Object.values(counts).reduce((n, c) => n + c, 0);
  const received = (counts.received ?? 0) + Math.max(0, total - listed);
  let status: RequestProgress['status'];
  if (done >= total)
    status =
      (counts.failed ?? 0) > 0 ? 'failed' : unsupported > 0 ? 'completed_with_unsupported' : 'completed';
  else if ((counts.awaiting_approval ?? 0) === total - done) status = 'awaiting_approval';
  else if (received === total) status = 'received';
  else status = 'processing';
  return { total, done, counts, status };
}

/** Status counts of the packages each request names (bundled ones excluded). */
export async function requestCounts(
  db: Kysely<DB>,
  requestIds: readonly string[],
): Promise<Map<string, Record<string, number>>> {
  const result = new Map<string, Record<string, number>>();
  if (requestIds.length === 0) return result;
  const rows = await db
    .selectFrom('package_request_items as i')
    .leftJoin('package_list as p', 'p.id', 'i.package_id')
    .select(['i.request_id', sql<string>`coalesce(p.status, 'received')`.as('status')])
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('i.request_id', 'in', [...requestIds])
    .where('i.bundled', '=', false)
    .groupBy(['i.request_id', sql`coalesce(p.status, 'received')`])
    .execute();
  for (const row of rows) {
    const counts = result.get(row.request_id) ?? {};
    counts[row.status] = Number(row.n);
    result.set(row.request_id, counts);
  }
  return result;
}

/** `progressOf`'s status of the request row `package_request_list` in SQL, for the list's filter. */
const requestStatusSql = sql<string>`(
  select case
    when count(*) filter (where p.status in ('published', 'rejected', 'failed')) >= package_request_list.total then
      case
        when count(*) filter (where p.status = 'failed') > 0 then 'failed'
        when jsonb_array_length(package_request_list.unsupported) > 0 then 'completed_with_unsupported'
        else 'completed'
      end
    when count(*) filter (where p.status = 'awaiting_approval')
         = package_request_list.total - count(*) filter (where p.status in ('published', 'rejected', 'failed'))
      then 'awaiting_approval'
    when count(*) filter (where p.id is null or p.status = 'received') = package_request_list.total then 'received'
    else 'processing'
  end
  from package_request_items i left join package_list p on p.id = i.package_id
  where i.request_id = package_request_list.id and i.bundled = false
)`;

export interface RequestFilters {
  tenantId: string;
  limit: number;
  cursor?: string;
  status?: RequestStatus;
  /** The requester's user id. */
  requester?: string;
  /** Submitted at or after. */
  since?: Date;
  /** Submitted before. */
  until?: Date;
}

/** A page of the tenant's requests, newest first, filtered by status, requester and submission time. */
export async function requestPage(db: Kysely<DB>, filters: RequestFilters) {
  let query = db.selectFrom('package_request_list').selectAll().where('tenant_id', '=', filters.tenantId);
  if (filters.requester) query = query.where('requested_by', '=', filters.requester);
  if (filters.since) query = query.where('created_at', '>=', filters.since);
  if (filters.until) query = query.where('created_at', '<', filters.until);
  if (filters.status) query = query.where(sql<boolean>`${requestStatusSql} = ${filters.status}`);
  if (filters.cursor) query = query.where(keysetAfter(filters.cursor, REQUEST_SORT));
  const rows = await query
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(filters.limit + 1)
    .execute();
  return pageWithCursor(rows, filters.limit, REQUEST_SORT, (r) => isoKey(r.created_at));
}

export async function requestRow(db: Kysely<DB>, tenantId: string, requestId: string) {
  return db
    .selectFrom('package_request_list')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', requestId)
    .executeTakeFirst();
}

/** The packages a request names, with each one's current state. */
export async function requestItems(db: Kysely<DB>, requestId: string) {
  return db
    .selectFrom('package_request_items as i')
    .leftJoin('package_list as p', 'p.id', 'i.package_id')
    .select([
      'i.spec',
      'i.dev',
      'i.optional',
      'i.peer',
      'i.bundled',
      'i.integrity as lockfile_integrity',
      'p.status',
      'p.license',
      'p.findings',
      'p.max_severity',
      'p.reasons',
      'p.reason',
      'p.integrity',
      'p.downloaded_at',
    ])
    .where('i.request_id', '=', requestId)
    .orderBy('i.spec')
    .execute();
}

/** Packages per status, and how long each stage took (p50/p95 in ms) over the tenant's packages (or all). */
export async function packageStats(db: Kysely<DB>, tenantId: string | undefined) {
  const tenant = tenantId ? sql`where tenant_id = ${tenantId}::uuid` : sql``;
  const counts = await sql<{ status: string; n: string }>`
    select status, count(*) as n from package_list ${tenant} group by status order by status`.execute(db);
  const stage = (name: string, from: keyof PackageListTable, to: keyof PackageListTable) => sql<{
    stage: string;
    n: string;
    p50: number | null;
    p95: number | null;
  }>`
    select ${name} as stage, count(*) as n,
           percentile_cont(0.5) within group (order by extract(epoch from (${sql.ref(to)} - ${sql.ref(from)})) * 1000) as p50,
           percentile_cont(0.95) within group (order by extract(epoch from (${sql.ref(to)} - ${sql.ref(from)})) * 1000) as p95
      from package_list
     where ${sql.ref(to)} is not null and ${sql.ref(from)} is not null ${tenantId ? sql`and tenant_id = ${tenantId}::uuid` : sql``}`;
  const stages = await Promise.all([
    stage('queued', 'received_at', 'processing_at').execute(db),
    stage('download', 'processing_at', 'downloaded_at').execute(db),
    stage('scan', 'downloaded_at', 'scanned_at').execute(db),
    stage('decision', 'scanned_at', 'decided_at').execute(db),
    stage('publish', 'decided_at', 'published_at').execute(db),
    stage('total', 'received_at', 'published_at').execute(db),
  ]);
  return {
    counts: Object.fromEntries(counts.rows.map((r) => [r.status, Number(r.n)])),
    stages: stages.map((s) => {
      const row = s.rows[0]!;
      return {
        stage: row.stage,
        count: Number(row.n),
        p50_ms: row.p50 === null ? null : Math.round(Number(row.p50)),
        p95_ms: row.p95 === null ? null : Math.round(Number(row.p95)),
      };
    }),
  };
}
