import { connect, createServer, type Socket } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres } from '../../src/db/database.ts';
import { waitUntil } from '../processes/support.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseUrl, freshPostgres } from '../support/postgres.ts';

/**
 * `Database.listen` on PostgreSQL holds a connection of its own for its channel, opens it again when
 * it is lost, and keeps trying when the server refuses the first one (its documented promise): the
 * job runners, the output streams and the nginx routes are woken through it.
 */
describe.runIf(databaseUrl)('LISTEN on PostgreSQL (postgres)', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await freshPostgres(2);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  const channel = `warden_listen_test_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const notify = (payload: string) => sql`select pg_notify(${channel}, ${payload})`.execute(t.database.db);
  /** The backends listening on the channel (the listener's own connection). */
  const listeners = async () =>
    (
      await sql<{ pid: number }>`
        select pid from pg_stat_activity where query = ${`listen ${channel}`}`.execute(t.database.db)
    ).rows.map((row) => row.pid);
  const until = (what: string, check: () => boolean | Promise<boolean>) => waitUntil(what, check, 10_000);

  it('hears notices, hears them again after its connection is killed, and stops for good', async () => {
    const heard: string[] = [];
    const stop = await t.database.listen(channel, (payload) => heard.push(payload));
    try {
      await notify('one');
      await until('the first notice', () => heard.includes('one'));
      const [first] = await listeners();
      expect(first).toBeTypeOf('number');

      // The server ends the listening connection (a restart, a failover, an idle killer).
      await sql`select pg_terminate_backend(${first})`.execute(t.database.db);
      // Re-opened on a new backend, it hears what is sent from then on.
      await until('a new listening backend', async () => {
        const now = await listeners();
        return now.length === 1 && now[0] !== first;
      });
      await notify('two');
      await until('the notice after the re-open', () => heard.includes('two'));
    } finally {
      await stop();
    }
    // Stopped: its connection is closed and nothing more is heard.
    await until('no listening backend', async () => (await listeners()).length === 0);
    await notify('three');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(heard).toEqual(['one', 'two']);
  });
  it('keeps trying when the server refuses its first connection, and says so once an outage', async () => {
    // A TCP relay to the server that drops every connection while `refusing` (as a server that is
    // restarting, or out of connection slots, does).
    let refusing = true;
    const sockets = new Set<Socket>();
    const server = new URL(databaseUrl!);
    const relay = createServer((incoming) => {
      if (refusing) {
        incoming.destroy();
        return;
      }
      const onward = connect(Number(server.port || 5432), server.hostname);
      for (const socket of [incoming, onward]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => sockets.delete(socket));
      }
      incoming.pipe(onward).pipe(incoming);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const url = new URL(server);
    url.host = `127.0.0.1:${(relay.address() as { port: number }).port}`;
    const said: string[] = [];
    const logger = {
      warn: (_: unknown, message: string) => void said.push(`warn: ${message}`),
      info: (_: unknown, message: string) => void said.push(`info: ${message}`),
    };
    const relayed = await connectPostgres({ url: url.toString(), logger });
    const heard: string[] = [];
    try {
      // Before, this rejected, and its callers polled from then on without ever listening.
      const stop = await relayed.listen(channel, (payload) => heard.push(payload));
      try {
        await new Promise((resolve) => setTimeout(resolve, 2500));
        expect(said).toEqual(['warn: the LISTEN connection could not be opened; trying again every second']);
        refusing = false;
        await until('a listening backend', async () => (await listeners()).length === 1);
        await notify('after the outage');
        await until('the notice', () => heard.includes('after the outage'));
        expect(said.at(-1)).toBe('info: listening again');

        // Lost later (the relay's connections cut): said once again, and heard again once back.
        for (const socket of sockets) socket.destroy();
        await until('the connection back', async () => said.length === 4 && (await listeners()).length === 1);
        expect(said.slice(2)).toEqual([
          'warn: the LISTEN connection was lost; opening it again every second',
          'info: listening again',
        ]);
        await notify('after the loss');
        await until('the notice after the loss', () => heard.includes('after the loss'));
      } finally {
        await stop();
      }
    } finally {
      await relayed.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
  });
});
