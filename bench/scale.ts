/**
 * `npm run bench:scale` — issue 20 item 6: how cost grows with the size of the store. Not in CI (the
 * full sizes run long). On PostgreSQL when DATABASE_URL is set (a database of its own, dropped at the
 * end), else in-process PGlite. For each pair of sizes (1× and 10×) it measures, on the same store as it
 * grows:
 *   - the event store: append rate and read-all rate over the last slice of the store (the same
 *     number of events at each size: per-operation cost at that size), and the rebuild time of a
 *     row-per-entity projection over every event (per event);
 *   - the tracker: list and full-text search p95 over real HTTP at each issue count;
 *   - identity: login rate over real HTTP with each number of users in the tenant.
 * Each pair is printed side by side with its growth factor (per-operation cost at 10× / at 1×); the
 * target is growth ≤ 2, flagged when missed. Sizes: SCALE_EVENTS (default 1e6,1e7), SCALE_ISSUES
 * (1e5,1e6), SCALE_USERS (1e3,1e5); SCALE_QUICK=1 → 1e5,1e6 events, 1e4,1e5 issues, 1e3,1e4 users (about 15 minutes here).
 * SCALE_SLICE: events per measured slice (default 20,000). The baseline of every ratio is the smaller
 * size measured in the same run; sizes cannot interleave (the store only grows), so each line carries
 * the load average at its measurements. The last line is one JSON object.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { registerUser } from '../src/commands/identity/index.ts';
import { projectContext } from '../src/commands/tracker/index.ts';
import { connectPGlite, connectPostgres, type Database } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import type { EventStore, NewEvent, RecordedEvent } from '../src/eventstore/port.ts';
import { postgresEventStore } from '../src/eventstore/postgres/store.ts';
import type { PasswordHasher } from '../src/identity/passwords.ts';
import { ProjectionEngine } from '../src/projections/engine/engine.ts';
import type { Projection } from '../src/projections/engine/projection.ts';
import { testApp } from '../test/support/app.ts';
import type { TestDatabase } from '../test/support/databases.ts';
import { appendNewStreams, issueMaker, listedIssues, searchTerm } from './support/issues.ts';
import { median, runConcurrent, type Step, sampleMs } from './support/measure.ts';
import { round } from './support/report.ts';

const QUICK = process.env.SCALE_QUICK === '1';
const sizes = (name: string, normal: string, quick: string): [number, number] => {
  const list = (process.env[name] ?? (QUICK ? quick : normal)).split(',').map((s) => Math.round(Number(s)));
  if (list.length !== 2 || list.some((n) => !Number.isFinite(n) || n <= 0) || list[0]! >= list[1]!)
    throw new Error(`${name}: two increasing sizes, e.g. 1e5,1e6`);
  return [list[0]!, list[1]!];
};
const EVENTS = sizes('SCALE_EVENTS', '1e6,1e7', '1e5,1e6');
const ISSUES = sizes('SCALE_ISSUES', '1e5,1e6', '1e4,1e5');
const USERS = sizes('SCALE_USERS', '1e3,1e5', '1e3,1e4');
const SLICE = Number(process.env.SCALE_SLICE ?? 20_000);
/** Events per entity stream (one append each); a seeding transaction carries this many appends. */
const EVENTS_PER_ENTITY = 100;
const APPENDS_PER_TRANSACTION = 10;
const WRITERS = 4;
const PROJECTS = 20;
const SAMPLES = 200;
const WARMUP = 30;
const LOGIN_CONCURRENCY = 8;
const LOGIN_ROUNDS = 3;
const USER_TENANTS = 64;
const GROWTH_TARGET = 2;
const DEFAULT_PASSWORD_NOTE = 'argon2id m=1024 KiB t=1 (the cheapest the configuration allows)';

const log = (line: string) => process.stdout.write(`${line}\n`);
const progress = (line: string) => process.stderr.write(`… ${line}\n`);
const load = () => os.loadavg()[0] ?? 0;

interface Pair {
  figure: string;
  unit: string;
  /** Per-operation cost grows when the value rises (a time) or falls (a rate). */
  kind: 'time' | 'rate';
  small: { size: number; value: number; load: number };
  large: { size: number; value: number; load: number };
  /** For whole-store work (a rebuild): the value is divided by the size before comparing. */
  perSize?: boolean;
}

/** Per-operation cost at the larger size over that at the smaller (1 = flat, 10 = linear in the size). */
function growth(p: Pair): number {
  const cost = (s: Pair['small']) => {
    const perOp = p.kind === 'time' ? s.value : 1 / s.value;
    return p.perSize ? perOp / s.size : perOp;
  };
  return cost(p.large) / cost(p.small);
}

// ————— the event store —————

type EntityTables = {
  scale_entities: { entity_id: string; name: string; changes: number; position: string };
};

/** A row-per-entity read model (like the tracker's issue list): latest name and change count per stream. */
function entityProjection(): Projection<EntityTables> {
  const upsert = (db: Kysely<EntityTables>, rows: EntityTables['scale_entities'][]) =>
    db
      .insertInto('scale_entities')
      .values(rows)
      .onConflict((oc) =>
        oc.column('entity_id').doUpdateSet((eb) => ({
          name: eb.ref('excluded.name'),
          changes: sql<number>`scale_entities.changes + excluded.changes`,
          position: eb.ref('excluded.position'),
        })),
      )
      .execute();
  const row = (event: RecordedEvent) => ({
    entity_id: event.streamId,
    name: (event.data as { name: string }).name,
    changes: 1,
    position: event.position.toString(),
  });
  return {
    name: 'scaleEntities',
    version: 1,
    types: ['ScaleEntityChanged'],
    tables: ['scale_entities'],
    async createTables(db) {
      await db.schema
        .createTable('scale_entities')
        .addColumn('entity_id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('changes', 'integer', (c) => c.notNull())
        .addColumn('position', 'bigint', (c) => c.notNull())
        .execute();
    },
    async apply(event, db) {
      await upsert(db, [row(event)]);
    },
    async applyBatch(events, db) {
      const latest = new Map<string, EntityTables['scale_entities']>();
      for (const event of events) {
        const next = row(event);
        next.changes += latest.get(next.entity_id)?.changes ?? 0;
        latest.set(next.entity_id, next);
      }
      await upsert(db, [...latest.values()]);
    },
  };
}

const tenantId = randomUUID();
const actorId = randomUUID();
let entities = 0;

/** One entity's events (a stream of EVENTS_PER_ENTITY), about 300 bytes of JSON each. */
function entityAppend(): { streamId: string; events: NewEvent[] } {
  const entity = entities++;
  const streamId = `scale.Entity-${entity}`;
  return {
    streamId,
    events: Array.from({ length: EVENTS_PER_ENTITY }, (_, k) => ({
      id: randomUUID(),
      type: 'ScaleEntityChanged',
      data: {
        name: `Entity ${entity} change ${k}`,
        status: k % 3 === 0 ? 'open' : 'closed',
        tags: ['alpha', 'beta'].slice(0, (k % 2) + 1),
        note: 'a modest payload, like a settings or field change',
      },
      metadata: { tenantId, actorId, correlationId: randomUUID() },
    })),
  };
}

/**
 * Appends `count` events through the real store API: WRITERS concurrent transactions, each carrying
 * APPENDS_PER_TRANSACTION new streams (expected `no_stream`), as a batch import would. Resolves to the
 * seconds it took.
 */
let stored = 0;

async function appendEvents(database: Database, count: number): Promise<number> {
  const transactions = Math.ceil(count / (EVENTS_PER_ENTITY * APPENDS_PER_TRANSACTION));
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (next < transactions) {
        next++;
        const appends = Array.from({ length: APPENDS_PER_TRANSACTION }, entityAppend);
        await appendNewStreams(database, appends);
        stored += APPENDS_PER_TRANSACTION * EVENTS_PER_ENTITY;
      }
    }),
  );
  return (performance.now() - start) / 1000;
}

async function readAfter(store: EventStore, after: bigint, max: number): Promise<number> {
  let read = 0;
  let position = after;
  while (read < max) {
    const page = await store.readAll({ after: position, limit: 1000 });
    if (page.length === 0) break;
    read += page.length;
    position = page[page.length - 1]!.position;
  }
  return read;
}

interface EventFigures {
  size: number;
  appendPerS: number;
  readPerS: number;
  rebuildS: number;
  seedS: number;
  load: { append: number; read: number; rebuild: number };
}

async function eventStoreAt(database: Database, store: EventStore, size: number): Promise<EventFigures> {
  // Positions are sparse (transaction id and index): the events are counted as they are appended.
  const have = stored;
  const seedTo = size - SLICE;
  progress(`event store: seeding to ${seedTo.toLocaleString('en-US')} events`);
  const seedS = seedTo > have ? await appendEvents(database, seedTo - have) : 0;
  progress(`event store: ${Math.round((seedTo - have) / Math.max(seedS, 1e-9))} events/s seeded`);
  const head = await store.headPosition();
  const appendLoad = load();
  const before = stored;
  const appendS = await appendEvents(database, SLICE);
  const appended = stored - before;
  const readLoad = load();
  await readAfter(store, head, 2000); // plans cached, the JIT warm
  const readStart = performance.now();
  const read = await readAfter(store, head, appended);
  const readS = (performance.now() - readStart) / 1000;
  progress(
    `event store: rebuilding the row-per-entity projection over ${size.toLocaleString('en-US')} events`,
  );
  const rebuildLoad = load();
  const engine = new ProjectionEngine({ database, store, projections: [entityProjection() as Projection] });
  let rebuildS: number;
  try {
    rebuildS = (await engine.rebuild('scaleEntities')).seconds;
  } finally {
    await engine.stop();
  }
  return {
    size: stored,
    appendPerS: appended / appendS,
    readPerS: read / readS,
    rebuildS,
    seedS,
    load: { append: appendLoad, read: readLoad, rebuild: rebuildLoad },
  };
}

// ————— the tracker and logins, through the whole app over HTTP —————

async function p95(run: (i: number) => Promise<void>): Promise<number> {
  const times = await sampleMs(run, WARMUP, SAMPLES);
  times.sort((a, b) => a - b);
  return times[Math.min(times.length - 1, Math.floor(0.95 * times.length))]!;
}

async function main() {
  const envUrl = process.env.DATABASE_URL;
  const dbName = `bench_scale_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  let admin: pg.Client | undefined;
  let dbUrl: string | undefined;
  if (envUrl) {
    admin = new pg.Client({ connectionString: envUrl });
    await admin.connect();
    await admin.query(`create database ${dbName}`);
    const u = new URL(envUrl);
    u.pathname = `/${dbName}`;
    dbUrl = u.toString();
  }
  const open = async (schema: string, poolSize: number): Promise<Database> => {
    const database = dbUrl ? await connectPostgres({ url: dbUrl, schema, poolSize }) : await connectPGlite();
    await migrate(database);
    return database;
  };
  const loadStart = load();
  log(
    `bench:scale — ${dbUrl ? `PostgreSQL (database ${dbName}, dropped at the end)` : 'PGlite in-process'}; ` +
      `${os.availableParallelism()} cores, load average ${loadStart.toFixed(2)}; ` +
      `events ${EVENTS.join(' / ')}, issues ${ISSUES.join(' / ')}, users ${USERS.join(' / ')}; slice ${SLICE} events`,
  );
  const pairs: Pair[] = [];
  const extra: Record<string, unknown> = {};
  const opened: Database[] = [];
  try {
    // 1. The event store.
    const eventsDb = await open('scale_events', WRITERS + 2);
    opened.push(eventsDb);
    const store = postgresEventStore(eventsDb);
    const ev: EventFigures[] = [];
    for (const size of EVENTS) {
      const e = await eventStoreAt(eventsDb, store, size);
      progress(
        `event store at ${e.size}: append ${Math.round(e.appendPerS)}/s, read ${Math.round(e.readPerS)}/s, rebuild ${e.rebuildS.toFixed(1)} s`,
      );
      ev.push(e);
    }
    const [e1, e10] = ev as [EventFigures, EventFigures];
    pairs.push(
      {
        figure: `append (${WRITERS} writers, ${EVENTS_PER_ENTITY}-event appends)`,
        unit: 'events/s',
        kind: 'rate',
        small: { size: e1.size, value: e1.appendPerS, load: e1.load.append },
        large: { size: e10.size, value: e10.appendPerS, load: e10.load.append },
      },
      {
        figure: 'readAll of the last slice (pages of 1000)',
        unit: 'events/s',
        kind: 'rate',
        small: { size: e1.size, value: e1.readPerS, load: e1.load.read },
        large: { size: e10.size, value: e10.readPerS, load: e10.load.read },
      },
      {
        figure: 'rebuild, row-per-entity projection (per event)',
        unit: 's',
        kind: 'time',
        perSize: true,
        small: { size: e1.size, value: e1.rebuildS, load: e1.load.rebuild },
        large: { size: e10.size, value: e10.rebuildS, load: e10.load.rebuild },
      },
    );
    extra.seed_s = ev.map((e) => round(e.seedS, 1));
    await store.close().catch(() => undefined);

    // 2 and 3. The whole app (tenant resolution, rate limits, tokens, validation) over loopback HTTP.
    const fresh = async (): Promise<TestDatabase> => {
      const database = await open('scale_app', 12);
      opened.push(database);
      return { database, dispose: async () => {} };
    };
    const t = await testApp(fresh, {
      env: {
        WARDEN_TENANT_CACHE_TTL_MS: '30000',
        // The bench logs the same accounts in many times; real limits would (rightly) refuse it.
        WARDEN_LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '10000',
        WARDEN_LOGIN_MAX_ATTEMPTS_PER_ADDRESS: '1000000',
        WARDEN_ANON_RATE_PER_MINUTE: '100000000',
      },
    });
    const http = await t.listening();
    try {
      const slug = (await t.tenant()).slug;
      const lead = await t.user({ tenant: slug, role: 'owner' });
      const call = async (path: string, init: { json?: unknown; method?: string } = {}) => {
        const res = await http.request(path, { token: lead.token, tenant: slug, ...init });
        if (res.status >= 300) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
        return res.json() as Promise<Record<string, unknown>>;
      };
      const projects: { id: string; key: string }[] = [];
      for (let p = 0; p < PROJECTS; p++) {
        const key = `P${String(p).padStart(2, '0')}`;
        const created = await call('/v1/projects', {
          json: { key, name: `Project ${p}`, labels: ['api', 'ui', 'db', 'ops'] },
        });
        projects.push({ id: created.id as string, key });
      }
      const contexts = await Promise.all(projects.map((p) => projectContext(t.store, lead.tenantId, p.id)));
      const projected = () => listedIssues(t.database);
      let issues = 0;
      const day = Date.parse('2026-01-01T00:00:00Z');
      const makeIssue = issueMaker();
      /** Issues decided by the issue decider, appended (no_stream) in batched transactions. */
      const seedIssues = async (count: number) => {
        let next = issues;
        const end = issues + count;
        await Promise.all(
          Array.from({ length: WRITERS }, async () => {
            while (next < end) {
              const from = next;
              const to = Math.min(end, next + 250);
              next = to;
              const appends: { streamId: string; events: NewEvent[] }[] = [];
              for (let i = from; i < to; i++) {
                appends.push(
                  await makeIssue({
                    tenantId: lead.tenantId,
                    actorId: lead.userId,
                    assigneeId: lead.userId,
                    project: projects[i % PROJECTS]!,
                    context: contexts[i % PROJECTS]!,
                    number: Math.floor(i / PROJECTS) + 1,
                    at: new Date(day + i * 1000).toISOString(),
                  }),
                );
              }
              await appendNewStreams(t.database, appends);
            }
          }),
        );
        issues = end;
        // Polls the rows, not the head: other sessions on a shared server can hold the visible head back.
        while ((await projected()) < issues) await new Promise((resolve) => setTimeout(resolve, 200));
        await sql`analyze issue_list`.execute(t.database.db);
      };
      const tracker: { size: number; list: number; search: number; loadList: number; loadSearch: number }[] =
        [];
      for (const size of ISSUES) {
        progress(`tracker: seeding to ${size.toLocaleString('en-US')} issues`);
        await seedIssues(size - issues);
        const loadList = load();
        const list = await p95(async (i) => {
          const p = projects[i % PROJECTS]!;
          await call(
            `/v1/projects/${p.id}/issues?status=open&priority=high,highest&type=bug&sort=-updated_at&limit=20`,
          );
        });
        const loadSearch = load();
        const search = await p95(
          async (i) => void (await call(`/v1/issues?q=${encodeURIComponent(searchTerm(i))}&limit=20`)),
        );
        progress(`tracker at ${size}: list p95 ${list.toFixed(1)} ms, search p95 ${search.toFixed(1)} ms`);
        tracker.push({ size, list, search, loadList, loadSearch });
      }
      const [t1, t10] = tracker as [(typeof tracker)[0], (typeof tracker)[0]];
      pairs.push(
        {
          figure: 'tracker list p95 (HTTP, filtered, sorted, 20)',
          unit: 'ms',
          kind: 'time',
          small: { size: t1.size, value: t1.list, load: t1.loadList },
          large: { size: t10.size, value: t10.list, load: t10.loadList },
        },
        {
          figure: 'tracker search p95 (HTTP, full text, 20)',
          unit: 'ms',
          kind: 'time',
          small: { size: t1.size, value: t1.search, load: t1.loadSearch },
          large: { size: t10.size, value: t10.search, load: t10.loadSearch },
        },
      );

      // 3. Logins. Users are registered through the identity command (registerUser: email claim,
      // membership, personal data sealed), with one password hashed once by the real hasher (argon2id
      // at the cheapest parameters the configuration allows) and that hash given to every user: the
      // seeding does not pay a hash per user, each login still verifies one. They are spread over
      // USER_TENANTS tenants (a tenant's membership stream takes one registration at a time), each
      // tenant filled by one writer in turn; the users table holds them all.
      const password = `pw-${randomUUID()}`;
      const hash = await t.identity.hasher.hash(password);
      const hasher: PasswordHasher = { ...t.identity.hasher, hash: async () => hash };
      const tenants: { id: string; slug: string }[] = [];
      for (let i = 0; i < USER_TENANTS; i++) tenants.push(await t.tenant());
      const users: { slug: string; email: string }[] = [];
      const seedUsers = async (count: number) => {
        const first = users.length;
        const made: { slug: string; email: string }[] = [];
        await Promise.all(
          Array.from({ length: WRITERS * 2 }, async (_, writer) => {
            for (let i = first + writer; i < first + count; i += WRITERS * 2) {
              // Writer w only ever fills tenants w, w + 2·WRITERS, …: no two appends race on one.
              const tenant = tenants[i % USER_TENANTS]!;
              const email = `user-${i}@example.com`;
              await registerUser(
                t.store,
                hasher,
                {
                  tenantId: tenant.id,
                  email,
                  name: `User ${i}`,
                  password,
                  role: 'member',
                  via: 'admin',
                  maxUsers: null,
                  defaultPolicy: 'open',
                  at: new Date().toISOString(),
                },
                { metadata: { tenantId: tenant.id, actorId: 'bench' } },
                t.identity.userIds,
              );
              made.push({ slug: tenant.slug, email });
            }
          }),
        );
        users.push(...made);
        // Logins read the users read model: wait until the newest user can log in.
        const newest = made[made.length - 1]!;
        for (;;) {
          const res = await http.request('/v1/auth/login', {
            tenant: newest.slug,
            json: { email: newest.email, password },
          });
          await res.arrayBuffer();
          if (res.status === 200) break;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      };
      // Each worker logs its own share of the users in: of two first attempts on one account at once,
      // the one that read the clock first but reaches the throttle row second is refused (the row's
      // next_allowed_at is the other's later instant); a quirk of the throttle, not what this measures.
      const loginStep: Step = async (worker) => {
        const share = Math.floor(users.length / LOGIN_CONCURRENCY);
        const u = users[worker + LOGIN_CONCURRENCY * Math.floor(Math.random() * share)]!;
        const res = await http.request('/v1/auth/login', {
          tenant: u.slug,
          json: { email: u.email, password },
        });
        if (res.status !== 200) throw new Error(`login answered ${res.status}: ${await res.text()}`);
        await res.arrayBuffer();
        return 1;
      };
      const logins: { size: number; perS: number; load: number }[] = [];
      for (const size of USERS) {
        progress(`identity: registering users up to ${size.toLocaleString('en-US')}`);
        const registerStart = performance.now();
        await seedUsers(size - users.length);
        progress(`identity: registered in ${((performance.now() - registerStart) / 1000).toFixed(1)} s`);
        const loginLoad = load();
        const rates: number[] = [];
        for (let r = 0; r < LOGIN_ROUNDS; r++) {
          rates.push(
            (await runConcurrent(LOGIN_CONCURRENCY, loginStep, { warmupMs: 500, windowMs: 3000 })).perSecond,
          );
        }
        progress(`identity at ${size} users: ${median(rates).toFixed(1)} logins/s`);
        logins.push({ size, perS: median(rates), load: loginLoad });
      }
      const [l1, l10] = logins as [(typeof logins)[0], (typeof logins)[0]];
      pairs.push({
        figure: `login (HTTP, ${LOGIN_CONCURRENCY} in flight; ${DEFAULT_PASSWORD_NOTE})`,
        unit: 'per s',
        kind: 'rate',
        small: { size: l1.size, value: l1.perS, load: l1.load },
        large: { size: l10.size, value: l10.perS, load: l10.load },
      });
    } finally {
      await http.close();
      await t.dispose();
    }

    printPairs(pairs);
    const loadEnd = load();
    log(`load average: ${loadStart.toFixed(2)} at the start, ${loadEnd.toFixed(2)} at the end`);
    log('');
    const key = (figure: string) =>
      figure
        .replace(/\(.*\)/g, '')
        .trim()
        .replace(/[^a-z0-9]+/gi, '_')
        .replace(/^_+|_+$/g, '')
        .toLowerCase();
    log(
      JSON.stringify({
        database: dbUrl ? 'postgres' : 'pglite',
        quick: QUICK,
        slice_events: SLICE,
        growth_target: GROWTH_TARGET,
        figures: Object.fromEntries(
          pairs.map((p) => [
            key(p.figure),
            {
              unit: p.unit,
              sizes: [p.small.size, p.large.size],
              values: [round(p.small.value, 2), round(p.large.value, 2)],
              growth: round(growth(p), 2),
              met: growth(p) <= GROWTH_TARGET,
            },
          ]),
        ),
        all_met: pairs.every((p) => growth(p) <= GROWTH_TARGET),
        ...extra,
        load_average_1m: { start: round(loadStart, 2), end: round(loadEnd, 2) },
      }),
    );
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  } finally {
    for (const database of opened) await database.close().catch(() => undefined);
    if (admin) {
      // A pool the app left idle is told its connections end: expected here, not a failure.
      process.on('uncaughtException', (error: Error & { code?: string }) => {
        if (error.code !== '57P01') throw error;
      });
      await admin.query(`drop database if exists ${dbName} with (force)`);
      await admin.end();
    }
  }
}

function printPairs(pairs: readonly Pair[]): void {
  const f = (n: number) =>
    n >= 100 ? Math.round(n).toLocaleString('en-US') : n >= 1 ? n.toFixed(2) : n.toPrecision(2);
  const cells = pairs.map((p) => {
    const g = growth(p);
    return [
      p.figure,
      p.small.size.toLocaleString('en-US'),
      `${f(p.small.value)} ${p.unit}`,
      p.large.size.toLocaleString('en-US'),
      `${f(p.large.value)} ${p.unit}`,
      `${g.toFixed(2)}×`,
      `≤ ${GROWTH_TARGET}×`,
      g <= GROWTH_TARGET ? 'yes' : 'NO (grows > 2×)',
      `${p.small.load.toFixed(1)} / ${p.large.load.toFixed(1)}`,
    ];
  });
  const header = ['figure', 'size 1×', 'at 1×', 'size 10×', 'at 10×', 'growth', 'target', 'met?', 'load'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) =>
    c.map((cell, i) => (i === 0 || i >= 6 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  log('');
  log(
    'growth = per-operation cost at the larger size / at the smaller (rates inverted; a rebuild per event)',
  );
  log(line(header));
  log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) log(line(c));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
