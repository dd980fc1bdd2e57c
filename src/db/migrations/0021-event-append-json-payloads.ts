import { type Kysely, sql } from 'kysely';

/**
 * `warden_append` taking the events' data and metadata as one JSON array each instead of `json[]`.
 * A `json[]` parameter arrives as an array literal: the server unescapes every element (each a JSON
 * text full of quotes) and then parses it as JSON, so a 100-event batch spent most of its server CPU
 * on the literal (bench:eventstore `batch_vs_raw`). One JSON array is parsed once and split by
 * `json_array_elements`, which hands each element's text on unchanged. Same checks, positions and
 * errors as the `json[]` version of 0003, which stays for processes still running the older code.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw(`
    create function warden_append(
      p_stream text, p_mode text, p_expected bigint,
      p_ids uuid[], p_types text[], p_data json, p_metadata json, p_tenant text
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
      if cardinality(p_types) <> n or json_array_length(p_data) <> n or json_array_length(p_metadata) <> n then
        raise exception using errcode = '22023', message = 'ids, types, data and metadata differ in length';
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
        select base + e.i - 1, p_ids[e.i], p_stream, current_revision + e.i, p_types[e.i], e.data, e.metadata, p_tenant
        from rows from (json_array_elements(p_data), json_array_elements(p_metadata)) with ordinality
          as e(data, metadata, i);
      perform set_config('warden.xact_events', (used + n)::text, true);
      return query select current_revision + n, base + n - 1;
    end
    $fn$`)
    .execute(db);
}
