import { type Kysely, sql } from 'kysely';

export interface WorkspaceTrafficTable {
  workspace_id: string;
  tenant_id: string;
  minute: Date;
  requests: string | number | bigint;
  bytes_in: string | number | bigint;
  bytes_out: string | number | bigint;
}

export interface TrafficTotalsTable {
  tenant_id: string;
  requests: string | number | bigint;
  bytes_in: string | number | bigint;
  bytes_out: string | number | bigint;
}

export interface TrafficOffsetsTable {
  source: string;
  inode: string;
  offset: string | number | bigint;
}

export type TrafficTables = {
  warden_workspace_traffic: WorkspaceTrafficTable;
  warden_traffic_totals: TrafficTotalsTable;
  warden_traffic_offsets: TrafficOffsetsTable;
};

/** How long per-minute traffic is kept (the totals behind the counters are kept for good). */
export const TRAFFIC_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

export interface TrafficMinute {
  minute: Date;
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

/** Reads of the traffic tables (migration 0022); the tailer is their only writer. */
export function workspaceTraffic(database: Kysely<unknown>) {
  const db = database as Kysely<TrafficTables>;
  return {
    /** The workspace's minutes at or after `since`, oldest first (at most `limit`). */
    async perMinute(workspaceId: string, since: Date, limit = 10_080): Promise<TrafficMinute[]> {
      const rows = await db
        .selectFrom('warden_workspace_traffic')
        .select(['minute', 'requests', 'bytes_in', 'bytes_out'])
        .where('workspace_id', '=', workspaceId)
        .where('minute', '>=', since)
        .orderBy('minute')
        .limit(limit)
        .execute();
      return rows.map((row) => ({
        minute: new Date(row.minute),
        requests: Number(row.requests),
        bytesIn: Number(row.bytes_in),
        bytesOut: Number(row.bytes_out),
      }));
    },
    /** Every tenant's running totals, for `warden_workspace_requests_total` and `_bytes_total`. */
    async totals() {
      const rows = await db.selectFrom('warden_traffic_totals').selectAll().execute();
      return rows.map((row) => ({
        tenantId: row.tenant_id,
        requests: Number(row.requests),
        bytesIn: Number(row.bytes_in),
        bytesOut: Number(row.bytes_out),
      }));
    },
    /** Deletes minutes older than `before`; returns how many. */
    async sweep(before: Date): Promise<number> {
      const result = await db
        .deleteFrom('warden_workspace_traffic')
        .where('minute', '<', before)
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

export type WorkspaceTraffic = ReturnType<typeof workspaceTraffic>;

/** Adds a batch of minutes and the tenants' totals, and moves the offset, in one transaction. */
export async function recordTraffic(
  database: Kysely<unknown>,
  batch: {
    source: string;
    inode: string;
    offset: number;
    minutes: ReadonlyArray<{
      workspaceId: string;
      tenantId: string;
      minute: Date;
      requests: number;
      bytesIn: number;
      bytesOut: number;
    }>;
  },
): Promise<void> {
  const db = database as Kysely<TrafficTables>;
  await db.transaction().execute(async (trx) => {
    const tenants = new Map<string, { requests: number; bytesIn: number; bytesOut: number }>();
    for (const m of batch.minutes) {
      await trx
        .insertInto('warden_workspace_traffic')
        .values({
          workspace_id: m.workspaceId,
          tenant_id: m.tenantId,
          minute: m.minute,
          requests: m.requests,
          bytes_in: m.bytesIn,
          bytes_out: m.bytesOut,
        })
        .onConflict((oc) =>
          oc.columns(['workspace_id', 'minute']).doUpdateSet({
            requests: sql`warden_workspace_traffic.requests + excluded.requests`,
            bytes_in: sql`warden_workspace_traffic.bytes_in + excluded.bytes_in`,
            bytes_out: sql`warden_workspace_traffic.bytes_out + excluded.bytes_out`,
          }),
        )
        .execute();
      const total = tenants.get(m.tenantId) ?? { requests: 0, bytesIn: 0, bytesOut: 0 };
      total.requests += m.requests;
      total.bytesIn += m.bytesIn;
      total.bytesOut += m.bytesOut;
      tenants.set(m.tenantId, total);
    }
    for (const [tenantId, total] of tenants) {
      await trx
        .insertInto('warden_traffic_totals')
        .values({
          tenant_id: tenantId,
          requests: total.requests,
          bytes_in: total.bytesIn,
          bytes_out: total.bytesOut,
        })
        .onConflict((oc) =>
          oc.column('tenant_id').doUpdateSet({
            requests: sql`warden_traffic_totals.requests + excluded.requests`,
            bytes_in: sql`warden_traffic_totals.bytes_in + excluded.bytes_in`,
            bytes_out: sql`warden_traffic_totals.bytes_out + excluded.bytes_out`,
          }),
        )
        .execute();
    }
    await trx
      .insertInto('warden_traffic_offsets')
      .values({ source: batch.source, inode: batch.inode, offset: batch.offset })
      .onConflict((oc) => oc.column('source').doUpdateSet({ inode: batch.inode, offset: batch.offset }))
      .execute();
  });
}
