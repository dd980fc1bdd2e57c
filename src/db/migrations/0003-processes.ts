import { type Kysely, sql } from 'kysely';

/**
 * Process-manager partitions and worker heartbeats, and several appends in one transaction.
 *
 * Each process manager's events are split by a hash of the stream id into a fixed number of
 * partitions. A partition row is at once the checkpoint and the lease: `owner` may move `position`
 * only while it still owns the row, and only from the position it last committed (compare-and-set),
 * so a worker that lost its lease cannot move a checkpoint.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_process_partitions (
      process text not null,
      partition int not null,
      position bigint not null default 0,
      owner text,
      lease_expires_at timestamptz not null default '-infinity',
      handled bigint not null default 0,
      last_error text,
      failed_event_id uuid,
      failed_position bigint,
      failed_at timestamptz,
      updated_at timestamptz not null default now(),
      primary key (process, partition)
    )`.execute(db);
  await sql`create index warden_process_partitions_owner on warden_process_partitions (owner)`.execute(db);
  await sql`
    create table warden_workers (
      id text primary key,
      host text not null,
      pid int not null,
      processes text[] not null default '{}',
      lease_ms int not null,
      handled bigint not null default 0,
      started_at timestamptz not null default now(),
      last_heartbeat timestamptz not null default now(),
      stopped_at timestamptz
    )`.execute(db);
  await severalAppendsPerTransaction(db);
}

/**
 * `warden_append` as in 0001, except for where an append's positions start. 0001 starts every append
 * at `txid << 20`, so a second append in the same transaction collided with the first. A process
 * manager's handler appends inside the transaction that advances its checkpoint, often more than
 * once (two commands for one event), so each append now starts after the events this transaction
 * already appended, counted in a transaction-local setting (reset at commit or rollback, and rolled
 * back with a savepoint). Positions stay inside the transaction's 2^20 block, so ordering and the
 * xmin horizon of readers are unchanged.
 */
async function severalAppendsPerTransaction(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw(`
    create or replace function warden_append(
      p_stream text, p_mode text, p_expected bigint,
      p_ids uuid[], p_types text[], p_data json[], p_metadata json[], p_tenant text
    ) returns table (last_revision bigint, last_position bigint)
    language plpgsql as $fn$
    declare
      n int := cardinality(p_ids);
      used int := coalesce(nullif(current_setting('warden.xact_events', true), ''), '0')::int;
      base bigint := (pg_current_xact_id()::text::bigint << 20) + used;
      current_revision bigint;
    begin
      if used + n > 1048576 then
        raise exception using errcode = '54000', message = 'more than 1048576 events in one transaction';
      end if;
      if p_mode = 'no_stream' then
        insert into warden_streams (stream_id, revision) values (p_stream, n - 1)
          on conflict (stream_id) do nothing;
        if not found then
          select s.revision into current_revision from warden_streams s where s.stream_id = p_stream;
          raise exception using errcode = 'WE001', message = 'wrong expected revision',
            detail = current_revision::text;
        end if;
        current_revision := -1;
      elsif p_mode = 'any' then
        insert into warden_streams as s (stream_id, revision) values (p_stream, n - 1)
          on conflict (stream_id) do update set revision = s.revision + n
          returning s.revision - n into current_revision;
      elsif p_mode = 'exists' then
        update warden_streams s set revision = s.revision + n where s.stream_id = p_stream
          returning s.revision - n into current_revision;
        if not found then
          raise exception using errcode = 'WE001', message = 'wrong expected revision', detail = '-1';
        end if;
      else
        update warden_streams s set revision = s.revision + n
          where s.stream_id = p_stream and s.revision = p_expected
          returning s.revision - n into current_revision;
        if not found then
          select s.revision into current_revision from warden_streams s where s.stream_id = p_stream;
          raise exception using errcode = 'WE001', message = 'wrong expected revision',
            detail = coalesce(current_revision, -1)::text;
        end if;
      end if;
      insert into warden_events (position, id, stream_id, revision, type, data, metadata, tenant_id)
        select base + i - 1, p_ids[i], p_stream, current_revision + i, p_types[i], p_data[i], p_metadata[i], p_tenant
        from generate_subscripts(p_ids, 1) as i;
      perform set_config('warden.xact_events', (used + n)::text, true);
      return query select current_revision + n, base + n - 1;
    end
    $fn$`)
    .execute(db);
}
