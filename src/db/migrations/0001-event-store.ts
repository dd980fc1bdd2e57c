import { type Kysely, sql } from 'kysely';

/**
 * Event store tables and the append function.
 *
 * Global position = (transaction id << 20) + index within the append. Positions therefore follow
 * transaction-id order, and a reader only reads below `pg_snapshot_xmin(pg_current_snapshot()) << 20`:
 * every transaction with a lower id has finished, so nothing can later appear below that mark.
 * See README "Event store ordering" for why this beats serialising commits.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_streams (
      stream_id text primary key,
      revision bigint not null
    )`.execute(db);
  await sql`
    create table warden_events (
      position bigint primary key,
      id uuid not null unique,
      stream_id text not null,
      revision bigint not null,
      type text not null,
      data json not null,
      metadata json not null,
      tenant_id text,
      recorded_at timestamptz not null default now(),
      unique (stream_id, revision)
    )`.execute(db);
  await sql`create index warden_events_type_position on warden_events (type, position)`.execute(db);
  await sql`
    create table warden_checkpoints (
      name text primary key,
      position bigint not null,
      updated_at timestamptz not null default now()
    )`.execute(db);
  // One round trip per append: check the expectation, move the stream head, insert the events.
  // Errors: WE001 wrong expected revision (detail = actual revision, -1 for no stream).
  await sql
    .raw(`
    create function warden_append(
      p_stream text, p_mode text, p_expected bigint,
      p_ids uuid[], p_types text[], p_data json[], p_metadata json[], p_tenant text
    ) returns table (last_revision bigint, last_position bigint)
    language plpgsql as $fn$
    declare
      n int := cardinality(p_ids);
      base bigint := pg_current_xact_id()::text::bigint << 20;
      current_revision bigint;
    begin
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
      return query select current_revision + n, base + n - 1;
    end
    $fn$`)
    .execute(db);
}
