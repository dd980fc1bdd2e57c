import { type PostgresPool, type PostgresPoolClient, type RawBuilder, sql } from 'kysely';
import type { Pool, PoolClient } from 'pg';

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

/** `pool` as kysely's PostgreSQL dialect takes it, sending marked statements as named ones. */
export function withPreparedStatements(pool: Pool): PostgresPool {
  // Kysely keeps one connection object per client it is handed: hand it the same wrapper each time.
  const wrappers = new WeakMap<PoolClient, PostgresPoolClient>();
  const wrap = (client: PoolClient): PostgresPoolClient => {
    const query = (text: unknown, values?: readonly unknown[]) => {
      if (typeof text !== 'string') return client.query(text as never);
      const mark = MARK.exec(text);
      const name = mark?.[1] ?? mark?.[2];
      return name
        ? client.query({ name, text, values: [...(values ?? [])] })
        : client.query(text, [...(values ?? [])]);
    };
    return { query: query as unknown as PostgresPoolClient['query'], release: () => client.release() };
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
