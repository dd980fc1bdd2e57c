import { type Kysely, sql } from 'kysely';

/**
 * Jobs: slow work with side effects outside the database (downloads, publishes), queued by process
 * managers in their handling transaction and run by workers with no transaction open, so a slow
 * registry never holds back the store. A job is claimed with a lease (SKIP LOCKED), retried with
 * backoff, and deleted when its effect is recorded as events.
 *
 * Package blobs: tarballs by the sha512 of their bytes, so identical bytes are stored once and every
 * worker (on any machine) reads what another downloaded.
 *
 * Advisories: OSV records imported by `warden osv import`, indexed by package name for the scan.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table warden_jobs (
      id text primary key,
      queue text not null,
      kind text not null,
      tenant_id uuid,
      subject text not null,
      payload jsonb not null default '{}',
      run_after timestamptz not null default now(),
      attempts int not null default 0,
      locked_by text,
      locked_until timestamptz,
      claimed_at timestamptz,
      last_error text,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index warden_jobs_due on warden_jobs (queue, run_after)`.execute(db);
  await sql`create index warden_jobs_locked_by on warden_jobs (locked_by) where locked_by is not null`.execute(
    db,
  );
  await sql`
    create table warden_package_blobs (
      digest text primary key,
      size int not null,
      bytes bytea not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table warden_advisories (
      id text primary key,
      modified text not null,
      withdrawn boolean not null,
      malicious boolean not null,
      record jsonb not null,
      import_id text not null,
      imported_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table warden_advisory_packages (
      name text not null,
      advisory_id text not null references warden_advisories (id) on delete cascade,
      primary key (name, advisory_id)
    )`.execute(db);
  await sql`create index warden_advisory_packages_advisory on warden_advisory_packages (advisory_id)`.execute(
    db,
  );
  await sql`
    create table warden_advisory_imports (
      import_id text primary key,
      source text not null,
      total int not null,
      changed int not null,
      imported_at timestamptz not null default now()
    )`.execute(db);
}
