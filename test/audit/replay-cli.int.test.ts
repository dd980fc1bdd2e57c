import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { replayCommand } from '../../src/cli/replay.ts';
import { createTenant, tenantStreamId, updateTenant } from '../../src/commands/tenancy/index.ts';
import { connectPGlite } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import type { EventStore } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { upcasters } from '../../src/eventstore/upcasters.ts';
import { upcastingStore } from '../../src/eventstore/upcasting.ts';
import { freshPGlite } from '../support/databases.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const ctx = (tenantId?: string) => ({
  metadata: { requestId: 'cli', ...(tenantId ? { tenantId, actorId: 'cli-actor' } : {}) },
});

/** A tenant created as "Acme" and renamed "Acme Corp": two events. */
async function seed(store: EventStore) {
  const slug = `cli-${Date.now().toString(36)}`;
  const created = await createTenant(
    store,
    { slug, name: 'Acme', plan: 'free', at: '2026-01-01T00:00:00.000Z' },
    ctx(),
  );
  const id = created.state.tenantId;
  await updateTenant(
    store,
    id,
    { type: 'UpdateTenant', name: 'Acme Corp', at: '2026-01-02T00:00:00.000Z' },
    ctx(id),
  );
  return tenantStreamId(id);
}

async function run(argv: string[], store: EventStore) {
  let text = '';
  const write = (chunk: string) => {
    text += chunk;
    return true;
  };
  const output = { write } as unknown as NodeJS.WritableStream;
  const code = await replayCommand(argv, { store, output });
  return { code, text };
}

describe('warden replay', () => {
  it('prints the state at a revision, at a time, the latest, and what each event changed', async () => {
    const { database, dispose } = await freshPGlite();
    try {
      const store = upcastingStore(postgresEventStore(database), upcasters);
      const stream = await seed(store);
      const first = await run([stream, '--at', '0'], store);
      expect(first.code).toBe(0);
      expect(first.text).toContain('at revision 0 of 1');
      expect(first.text).toContain('"name": "Acme"');
      const latest = await run([stream, '--json'], store);
      expect(JSON.parse(latest.text)).toMatchObject({ revision: 1, state: { name: 'Acme Corp' } });
      const before = await run([stream, '--at=2000-01-01T00:00:00Z'], store);
      expect(before.code).toBe(0);
      expect(before.text).toContain('before its first event: the initial state');
      expect(before.text).toContain('"exists": false');
      const diff = await run([stream, '--diff'], store);
      expect(diff.text).toContain('@0 TenantCreated');
      expect(diff.text).toContain('@1 TenantRenamed');
      expect(diff.text).toContain('by cli-actor');
      expect(diff.text).toContain('name: "Acme" → "Acme Corp"');
    } finally {
      await dispose();
    }
  });

  it('exit 1 for an unknown stream, 2 for bad usage or a malformed --at', async () => {
    const { database, dispose } = await freshPGlite();
    try {
      const store = postgresEventStore(database);
      const stream = await seed(store);
      expect(await run([`tenancy.Tenant-${crypto.randomUUID()}`], store)).toMatchObject({ code: 1 });
      expect((await run([stream, '--at', 'yesterday'], store)).code).toBe(2);
      expect((await run([stream, '--at'], store)).code).toBe(2);
      expect((await run([], store)).code).toBe(2);
      expect((await run([stream, '--colour'], store)).code).toBe(2);
    } finally {
      await dispose();
    }
  });

  it('runs as `warden replay` on the configured database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-replay-'));
    dirs.push(dir);
    const database = await connectPGlite({ dataDir: dir });
    await migrate(database);
    const stream = await seed(postgresEventStore(database));
    await database.close();
    const child = spawn(
      join(process.cwd(), 'node_modules', '.bin', 'tsx'),
      ['src/main.ts', 'replay', stream, '--diff'],
      {
        env: { ...process.env, DATABASE_URL: '', WARDEN_DATA_DIR: dir },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(stdout).toContain('name: "Acme" → "Acme Corp"');
    expect(stdout).toContain('"name": "Acme Corp"');
  });
});
