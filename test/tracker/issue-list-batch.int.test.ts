import fc from 'fast-check';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/eventstore/port.ts';
import { issueList } from '../../src/projections/tracker/index.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';

/*
 * The issue list's set-based `applyBatch` (the path of live catch-up pages and rebuilds) must leave
 * exactly the rows `apply` on each event in turn leaves: for random histories of a few issues (with
 * comments, edits of any field, events for issues never created, and pages re-delivering events the
 * rows already have), both tables are compared whole, and each issue's search vector with the one
 * its texts stem to.
 */

const tenantId = '00000000-0000-4000-8000-000000000001';
const projectId = '00000000-0000-4000-8000-000000000002';
const user = (n: number) => `00000000-0000-4000-8000-0000000001${String(n).padStart(2, '0')}`;
const issueIds = [1, 2, 3, 4].map((n) => `00000000-0000-4000-8000-0000000002${String(n).padStart(2, '0')}`);
const commentIds = [1, 2, 3].map((n) => `00000000-0000-4000-8000-0000000003${String(n).padStart(2, '0')}`);

type Step = { issue: number; kind: string; pick: number; flag: boolean };

const step = fc.record({
  issue: fc.integer({ min: 0, max: issueIds.length - 1 }),
  kind: fc.constantFrom(
    'IssueCreated',
    'IssueCreated',
    'IssueEdited',
    'IssueEdited',
    'IssueAssigned',
    'IssueUnassigned',
    'IssueStatusChanged',
    'IssueDeleted',
    'IssueRestored',
    'CommentAdded',
    'CommentEdited',
    'CommentDeleted',
  ),
  pick: fc.nat(1000),
  flag: fc.boolean(),
});

const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo'];

/** Events as the store would hand them over: per-issue revisions, increasing global positions. */
function toEvents(steps: readonly Step[]): RecordedEvent[] {
  const revisions = new Map<string, number>();
  return steps.map((s, i) => {
    const issueId = issueIds[s.issue]!;
    const revision = (revisions.get(issueId) ?? -1) + 1;
    revisions.set(issueId, revision);
    const at = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
    const base = { issueId, projectId, tenantId, at, by: user(1) };
    const word = words[s.pick % words.length]!;
    const commentId = commentIds[s.pick % commentIds.length]!;
    let data: Record<string, unknown>;
    switch (s.kind) {
      case 'IssueCreated':
        data = {
          ...base,
          number: s.issue + 1,
          key: `P-${s.issue + 1}`,
          title: `title ${word}`,
          description: `about ${word}`,
          type: s.flag ? 'bug' : 'task',
          priority: ['lowest', 'low', 'medium', 'high', 'highest'][s.pick % 5],
          labels: s.flag ? ['api'] : [],
          dueDate: s.pick % 3 === 0 ? `2026-03-0${(s.pick % 9) + 1}` : null,
          assigneeId: s.flag ? user(2) : null,
          reporterId: user(1),
        };
        break;
      case 'IssueEdited': {
        const field = s.pick % 6;
        const changes: Record<string, unknown> = {};
        if (field === 0 || s.flag) changes.title = `edited ${word}`;
        if (field === 1) changes.description = `now ${word}`;
        if (field === 2) changes.type = s.flag ? 'story' : 'bug';
        if (field === 3) changes.priority = s.flag ? 'highest' : 'low';
        if (field === 4) changes.labels = s.flag ? ['ui', 'db'] : [];
        if (field === 5) changes.dueDate = s.flag ? '2026-05-17' : null;
        data = { ...base, changes };
        break;
      }
      case 'IssueAssigned':
        data = { ...base, assigneeId: user(3 + (s.pick % 3)), previous: null };
        break;
      case 'IssueUnassigned':
        data = { ...base, previous: user(3), reason: 'manual' };
        break;
      case 'IssueStatusChanged':
        data = {
          ...base,
          from: 'open',
          to: s.flag ? 'done' : 'in_progress',
          resolution: s.flag ? 'fixed' : null,
          duplicateOf: null,
          reason: null,
        };
        break;
      case 'CommentAdded':
        data = { ...base, commentId, authorId: user(2), body: `comment ${word}`, mentions: [] };
        break;
      case 'CommentEdited':
        data = { ...base, commentId, body: `changed ${word}`, previousBody: '', mentions: [user(3)] };
        break;
      default:
        data = { ...base, ...(s.kind === 'CommentDeleted' ? { commentId } : {}) };
    }
    return {
      id: crypto.randomUUID(),
      type: s.kind,
      data,
      metadata: { tenantId },
      streamId: `tracker.Issue-${issueId}`,
      revision,
      position: BigInt(i + 1),
      recordedAt: new Date(at),
    };
  });
}

/** Both tables, every column, in a stable order (the generated search vector included). */
async function snapshot(db: Kysely<unknown>, schema: string) {
  const issues = await sql<{ row: unknown }>`
    select to_jsonb(t) as row from ${sql.table(`${schema}.issue_list`)} t order by id`.execute(db);
  const comments = await sql<{ row: unknown }>`
    select to_jsonb(t) as row from ${sql.table(`${schema}.issue_comments`)} t order by id`.execute(db);
  return { issues: issues.rows.map((r) => r.row), comments: comments.rows.map((r) => r.row) };
}

/**
 * Issues whose `search` is not what stemming their key and title, description and live comments at
 * once gives (the generated column concatenates the title's vector with the other two, kept in
 * columns of their own and written only when their text changes).
 */
async function staleVectors(db: Kysely<unknown>, schema: string) {
  const { rows } = await sql<{ id: string }>`
    select id from ${sql.table(`${schema}.issue_list`)}
    where search <> setweight(to_tsvector('english', key || ' ' || title), 'A')
      || setweight(to_tsvector('english', description), 'B')
      || setweight(to_tsvector('english', comments_text), 'C')`.execute(db);
  return rows.map((r) => r.id);
}

for (const kind of databaseKinds) {
  describe(`issue list: applyBatch leaves the rows apply leaves (${kind.name})`, () => {
    let test: TestDatabase;
    let db: Kysely<unknown>;
    const schemas = { one: 'issue_batch_one', batch: 'issue_batch_many' };
    // As the engine runs a projection: its builder scoped to the schema, raw SQL on the search path.
    const inTransaction = (schema: string, work: (scoped: Kysely<unknown>) => Promise<void>) =>
      db.transaction().execute(async (trx) => {
        await sql`select set_config('search_path', ${schema}, true)`.execute(trx);
        await work(trx.withSchema(schema) as Kysely<unknown>);
      });

    beforeAll(async () => {
      test = await kind.fresh();
      db = test.database.db as Kysely<unknown>;
      for (const schema of Object.values(schemas)) {
        await sql`create schema ${sql.id(schema)}`.execute(db);
        await inTransaction(schema, (scoped) => issueList.createTables(scoped));
      }
    }, 120_000);
    afterAll(async () => {
      for (const schema of Object.values(schemas)) {
        await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db);
      }
      await test.dispose();
    });

    it('for random histories, paged at random, and with pages re-delivering applied events', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(step, { minLength: 1, maxLength: 40 }),
          fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 10 }),
          fc.nat(),
          fc.nat(),
          async (steps, pageSizes, appliedShare, overlapShare) => {
            const events = toEvents(steps);
            for (const schema of Object.values(schemas)) {
              await sql`truncate ${sql.table(`${schema}.issue_list`)}, ${sql.table(`${schema}.issue_comments`)}`.execute(
                db,
              );
            }
            // A prefix both sides already have, one event at a time …
            const applied = appliedShare % (events.length + 1);
            // … and the rest, starting a little before it (a re-delivery the revisions must absorb).
            const from = applied - (overlapShare % (applied + 1));
            for (const event of events.slice(0, applied)) {
              for (const schema of Object.values(schemas)) {
                await inTransaction(schema, (scoped) => issueList.apply(event, scoped));
              }
            }
            for (const event of events.slice(from)) {
              await inTransaction(schemas.one, (scoped) => issueList.apply(event, scoped));
            }
            let at = from;
            for (let page = 0; at < events.length; page++) {
              const size = pageSizes[page % pageSizes.length]!;
              const chunk = events.slice(at, at + size);
              await inTransaction(schemas.batch, (scoped) => issueList.applyBatch!(chunk, scoped));
              at += size;
            }
            expect(await snapshot(db, schemas.batch)).toEqual(await snapshot(db, schemas.one));
            // The vector made from the parts kept beside it is the one the three texts stem to.
            for (const schema of Object.values(schemas)) {
              expect(await staleVectors(db, schema)).toEqual([]);
            }
          },
        ),
        {
          numRuns: 60,
          // Always among them: a description edited on a later page than its creation (the page's
          // overwrite stems it again), then a comment added, edited and deleted, one event a page.
          examples: [
            [
              [
                { issue: 0, kind: 'IssueCreated', pick: 0, flag: false },
                { issue: 0, kind: 'IssueEdited', pick: 1, flag: false },
                { issue: 0, kind: 'CommentAdded', pick: 2, flag: false },
                { issue: 0, kind: 'CommentEdited', pick: 3, flag: false },
                { issue: 0, kind: 'IssueEdited', pick: 7, flag: false },
                { issue: 0, kind: 'CommentDeleted', pick: 2, flag: false },
              ],
              [1],
              0,
              0,
            ],
            // An edit naming another issue's comment: it changes nothing, on either path.
            [
              [
                { issue: 0, kind: 'IssueCreated', pick: 0, flag: false },
                { issue: 0, kind: 'CommentAdded', pick: 221, flag: false },
                { issue: 1, kind: 'CommentEdited', pick: 287, flag: false },
              ],
              [3],
              0,
              0,
            ],
          ],
        },
      );
    }, 600_000);

    it('folds a page of more new comments than one statement takes parameters for', async () => {
      const schema = schemas.batch;
      await sql`truncate ${sql.table(`${schema}.issue_list`)}, ${sql.table(`${schema}.issue_comments`)}`.execute(
        db,
      );
      const created = toEvents([{ issue: 0, kind: 'IssueCreated', pick: 0, flag: false }]);
      await inTransaction(schema, (scoped) => issueList.apply(created[0]!, scoped));
      // 7,000 rows of ten parameters each: more than the protocol's 65,535 in one statement.
      const comments: RecordedEvent[] = Array.from({ length: 7000 }, (_, i) => ({
        id: crypto.randomUUID(),
        type: 'CommentAdded',
        data: {
          issueId: issueIds[0],
          projectId,
          tenantId,
          at: new Date(Date.UTC(2026, 0, 2, 0, 0, 0, i)).toISOString(),
          by: user(1),
          commentId: crypto.randomUUID(),
          authorId: user(2),
          body: `note ${i}`,
          mentions: [],
        },
        metadata: { tenantId },
        streamId: `tracker.Issue-${issueIds[0]}`,
        revision: i + 1,
        position: BigInt(i + 2),
        recordedAt: new Date(),
      }));
      await inTransaction(schema, (scoped) => issueList.applyBatch!(comments, scoped));
      const { rows } = await sql<{ comments: number; revision: number; last: boolean }>`
        select (select count(*)::int from ${sql.table(`${schema}.issue_comments`)}) as comments, revision,
               comments_text like '% note 6999' as last
        from ${sql.table(`${schema}.issue_list`)}`.execute(db);
      expect(rows).toEqual([{ comments: 7000, revision: 7000, last: true }]);
      expect(await staleVectors(db, schema)).toEqual([]);
    }, 120_000);
  });
}
