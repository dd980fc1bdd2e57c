import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/logger.ts';
import { ProjectionEngine } from '../../src/projections/engine.ts';
import { projections } from '../../src/projections/registry.ts';
import type { TestDatabase } from './databases.ts';

/** The whole service in-process on a database the test owns, with its log lines captured. */
export async function testApp(fresh: () => Promise<TestDatabase>, config: { bodyLimit?: number } = {}) {
  const { database, dispose } = await fresh();
  const store = postgresEventStore(database, { pollIntervalMs: 10 });
  const lines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
  const engine = new ProjectionEngine({ database, store, projections, logger, pollIntervalMs: 10 });
  await engine.start();
  const app = createApp({
    config: {
      WARDEN_BODY_LIMIT_BYTES: config.bodyLimit ?? 64 * 1024,
      WARDEN_READ_WAIT_MS: 5000,
      WARDEN_IDEMPOTENCY_TTL_HOURS: 24,
    },
    store,
    db: database.db,
    projections: engine,
    readiness: [],
    logger,
  });
  const request = (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const { json, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (json !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
    return app.request(path, {
      ...rest,
      headers,
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
    });
  };
  return {
    app,
    store,
    database,
    engine,
    lines,
    request,
    async dispose() {
      await engine.stop();
      await dispose();
    },
  };
}
