import { type Kysely, sql } from 'kysely';

/**
 * Tool output: an append-only store of bounded chunks per execution (`seq` orders them and is the
 * stream's resume point); a run's output is capped, so no execution grows an unbounded row or an
 * unbounded number of them. Tool quota: executions started per tenant and UTC day, counted before
 * the execution is recorded so concurrent requests cannot pass the plan's limit together.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_tool_output (
      execution_id uuid not null,
      seq int not null,
      kind text not null,
      data text not null,
      at timestamptz not null default now(),
      primary key (execution_id, seq)
    )`.execute(db);
  await sql`
    create table warden_tool_quota (
      tenant_id uuid not null,
      day date not null,
      used int not null,
      primary key (tenant_id, day)
    )`.execute(db);
}
