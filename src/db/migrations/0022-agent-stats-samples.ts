import { type Kysely, sql } from 'kysely';

/**
 * A day of each workspace agent's resource samples for `GET /v1/agents/{id}/stats/history` (a
 * sparkline): taken by the heartbeat monitor's process (one of the cluster) every
 * `WARDEN_AGENT_STATS_SAMPLE_MS`, deleted by the same process once older than a day. Rows, not events:
 * a sample is a measurement, not a decision, and the event log would grow by one per agent per minute.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_agent_stats_samples (
      agent_id uuid not null,
      tenant_id uuid not null,
      sampled_at timestamptz not null,
      cpu_cores integer not null,
      cpu_load1 double precision not null,
      memory_total_bytes bigint not null,
      memory_used_bytes bigint not null,
      disk_total_bytes bigint not null,
      disk_used_bytes bigint not null,
      containers_running integer not null,
      primary key (agent_id, sampled_at)
    )`.execute(db);
  await sql`create index warden_agent_stats_samples_age on warden_agent_stats_samples (sampled_at)`.execute(
    db,
  );
}
