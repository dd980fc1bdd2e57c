import { type Kysely, sql } from 'kysely';

/**
 * Workspace traffic read from nginx's access log: requests and bytes per workspace per minute, the
 * running totals per tenant behind the Prometheus counters, and how far each log has been read (its
 * inode, to notice rotation, and the byte offset), all written in one transaction per batch so a
 * crash never counts a line twice or loses one.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_traffic_offsets (
      source text primary key,
      inode text not null,
      "offset" bigint not null
    )`.execute(db);
  await sql`
    create table warden_workspace_traffic (
      workspace_id uuid not null,
      tenant_id uuid not null,
      minute timestamptz not null,
      requests bigint not null,
      bytes_in bigint not null,
      bytes_out bigint not null,
      primary key (workspace_id, minute)
    )`.execute(db);
  await sql`create index warden_workspace_traffic_age on warden_workspace_traffic (minute)`.execute(db);
  await sql`
    create table warden_traffic_totals (
      tenant_id uuid primary key,
      requests bigint not null,
      bytes_in bigint not null,
      bytes_out bigint not null
    )`.execute(db);
}
