import { type PostgresPool, type PostgresPoolClient, type RawBuilder, sql } from 'kysely';
import type { Pool, PoolClient, QueryResult } from 'pg';

/**
 * A statement whose text opens or ends with `/* prepared:<name> *\/` goes to the server as a named prepared
 * statement: parsed and planned once per connection, then only bound and executed. Kysely sends every
 * statement unnamed (parse, plan, execute each time); for the event store's single-event append that
 * was a large share of its server time (an earlier A/B in README "Measured": `append_vs_raw` 0.59 →
 * 0.89). Only fixed texts carry the mark (a name must always mean the same text on a connection);
 * PGlite ignores the comment.
 */
const MARK = /^\/\* prepared:([a-z_][a-z0-9_]*) \*\/|\/\* prepared:([a-z_][a-z0-9_]*) \*\/$/;

/**
 * The mark for a statement built with kysely's builder, added last (`.modifyEnd(preparedAs(name))`):
 * the builder's text is fixed when the query's shape is (a schema from `withSchema` included: one
 * pool serves one schema), and a named statement must never name a column list that a later migration
 * changes, so such a statement selects named columns, never `*`.
 */
export function preparedAs(name: string): RawBuilder<unknown> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`invalid prepared statement name: ${name}`);
  return sql.raw(`/* prepared:${name} */`);
}

/**
 * `pool` as kysely's PostgreSQL dialect takes it, sending marked statements as named ones, and a
 * transaction's `begin` with its first statement when that statement has no parameters.
 *
 * Kysely sends `begin` on its own: a round trip that does nothing but wait, and on a loaded machine
 * a round trip (two writes over loopback TCP, each waking the other side) costs more than a small
 * statement's execution. So `begin` is held back and sent in front of the transaction's first
 * statement, as one simple-protocol query (`begin; …`), when that statement has no parameters (the
 * extended protocol, which parameters need, takes one statement at a time): a projection's page
 * opens with its checkpoint's move written that way (one-event pages, alternated with the code
 * before: 1.45–1.85 ms a page against 2.05–2.6). Otherwise `begin` goes alone first, as before. A
 * transaction that ends before any statement sends nothing at all.
 */
export function withPreparedStatements(pool: Pool): PostgresPool {
  // Kysely keeps one connection object per client it is handed: hand it the same wrapper each time.
  const wrappers = new WeakMap<PoolClient, PostgresPoolClient>();
  const wrap = (client: PoolClient): PostgresPoolClient => {
    /** The `begin` (or `start transaction …`) held back until the transaction's first statement. */
    let pendingBegin: string | null = null;
    const send = (text: string, values: readonly unknown[]) => {
      const mark = MARK.exec(text);
      const name = mark?.[1] ?? mark?.[2];
      return name ? client.query({ name, text, values: [...values] }) : client.query(text, [...values]);
    };
    const query = async (text: unknown, values: readonly unknown[] = []) => {
      if (typeof text !== 'string') return client.query(text as never);
      if (values.length === 0 && BEGIN.test(text)) {
        // Kysely's own `begin`: held, and answered as the server would.
        if (pendingBegin !== null) await client.query(pendingBegin);
        pendingBegin = text;
        return { command: 'BEGIN', rowCount: null, rows: [] };
      }
      const begin = pendingBegin;
      if (begin === null) return send(text, values);
      pendingBegin = null;
      // Nothing ran in the transaction: there is nothing to commit or roll back.
      if (values.length === 0 && END.test(text))
        return { command: text.toUpperCase(), rowCount: null, rows: [] };
      if (values.length > 0 || MARK.test(text)) {
        await client.query(begin);
        return send(text, values);
      }
      // One simple query of two statements: the server answers each; the last is this statement's.
      const results = (await client.query(`${begin}; ${text}`)) as unknown as QueryResult | QueryResult[];
      return Array.isArray(results) ? results.at(-1) : results;
    };
    return {
      query: query as unknown as PostgresPoolClient['query'],
      release: () => {
        pendingBegin = null;
        client.release();
      },
    };
  };
  return {
    async connect() {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        wrapper = wrap(client);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}

/** What kysely sends to open a transaction (`begin`, or `start transaction` with its settings). */
const BEGIN = /^(begin|start transaction( [a-z ]+)?)$/i;
/** What kysely sends to end one. */
const END = /^(commit|rollback)$/i;
