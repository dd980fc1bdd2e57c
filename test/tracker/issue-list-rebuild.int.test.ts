import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventStore, NewEvent } from '../../src/eventstore/port.ts';
import { issueList } from '../../src/projections/tracker/index.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';
import { liveAndRebuilt } from '../support/rebuild.ts';

/*
 * A rebuild replays the log in pages; an issue whose events straddle two pages (created on one,
 * assigned on the next) needs the second page to see the first one's row. With two shadow pages in
 * flight at once on PostgreSQL, the second read the shadow without the first's uncommitted rows and
 * dropped the assignment (42 of 300 issues differed with pages of 3 events). Now each page is split by
 * issue over the two writers (`entityOf`): an issue's events stay on one of them, in order.
 */

const ISSUES = 60;

async function appendHistories(store: EventStore): Promise<void> {
  const tenantId = randomUUID();
  const projectId = randomUUID();
  const people = [randomUUID(), randomUUID(), randomUUID()];
  const ids = Array.from({ length: ISSUES }, () => randomUUID());
  const at = new Date(Date.UTC(2026, 0, 1)).toISOString();
  const event = (type: string, data: Record<string, unknown>): NewEvent => ({
    id: randomUUID(),
    type,
    data: { ...data, tenantId, projectId, at },
    metadata: { tenantId, actorId: people[0]! },
  });
  for (const [i, issueId] of ids.entries()) {
    await store.append(
      `tracker.Issue-${issueId}`,
      [
        event('IssueCreated', {
          issueId,
          number: i + 1,
          key: `RB-${i + 1}`,
          title: `issue ${i}`,
          description: 'straddles pages',
          type: 'task',
          priority: 'medium',
          labels: [],
          dueDate: null,
          assigneeId: null,
          reporterId: people[0],
        }),
        event('IssueAssigned', { issueId, assigneeId: people[i % 3], previous: null, by: people[0] }),
      ],
      { expected: 'no_stream' },
    );
  }
  for (const [i, issueId] of ids.entries()) {
    // Every other issue gets a comment (edited on every fourth): comment events fold one at a time,
    // between runs of row events, and rewrite the issue's search text from its comment rows.
    const commentId = randomUUID();
    const comments =
      i % 2 === 0
        ? [
            event('CommentAdded', {
              issueId,
              commentId,
              authorId: people[1],
              body: `first look at ${i}`,
              mentions: [],
            }),
            ...(i % 4 === 0
              ? [
                  event('CommentEdited', {
                    issueId,
                    commentId,
                    body: `second look at ${i}`,
                    previousBody: `first look at ${i}`,
                    mentions: [],
                    by: people[1],
                  }),
                ]
              : []),
          ]
        : [];
    await store.append(
      `tracker.Issue-${issueId}`,
      [
        ...comments,
        event('IssueEdited', { issueId, changes: { title: `edited ${issueId}` }, by: people[0] }),
        event('IssueStatusChanged', {
          issueId,
          from: 'open',
          to: 'done',
          resolution: 'fixed',
          duplicateOf: null,
          reason: null,
          by: people[0],
        }),
      ],
      { expected: 1 },
    );
  }
}

for (const kind of databaseKinds) {
  describe(`issue list rebuild (${kind.name})`, () => {
    let test: TestDatabase | undefined;
    afterEach(async () => {
      await test?.dispose();
    });

    it('rebuilds in pages of 3 events to the rows the live runner built: no event of an issue split across pages is lost (on PostgreSQL, folded on two writers by issue)', async () => {
      test = await kind.fresh();
      const { database } = test;
      const { live, rebuilt } = await liveAndRebuilt(database, issueList, appendHistories, async () => ({
        issues: (
          await sql`select id, title, assignee_id, status, resolution, comments_text, revision, position from issue_list order by id`.execute(
            database.db,
          )
        ).rows,
        comments: (
          await sql`select id, issue_id, body, edited_at from issue_comments order by id`.execute(database.db)
        ).rows,
      }));
      expect(live.issues).toHaveLength(ISSUES);
      expect(live.comments).toHaveLength(ISSUES / 2);
      expect(rebuilt).toEqual(live);
    });
  });
}
