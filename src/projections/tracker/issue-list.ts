import { type Kysely, sql } from 'kysely';
import { toStorableText } from '../../commands/kernel/index.ts';
import { type IssueEvent, issueEventTypes } from '../../commands/tracker/index.ts';
import { defineProjection, type Recorded } from '../engine/index.ts';
import {
  type CommentEvent,
  commentsVector,
  createdRow,
  descriptionVector,
  foldEvents,
  type IssueListTables,
  insertRows,
  isCommentEvent,
  liveCommentsText,
  rowChanges,
} from './issue-rows.ts';

export type { IssueCommentTable, IssueListTable, IssueListTables } from './issue-rows.ts';

/**
 * The weighted search document: key and title weigh most (A), the description next (B), comments
 * least (C); 'english' stems words, and queries add `:*` for prefix matching. A generated column
 * over the title and the description's and comments' own vectors (`search_description`,
 * `search_comments`: see issue-rows.ts), which are stemmed only when their text changes. Stemming is
 * most of a row's write, and PostgreSQL computes a generated column again whenever an UPDATE sets
 * any column it reads, even to the same value: a page's overwrite sets every column, so each row it
 * wrote, a status change's too, stemmed the whole description and every comment again (322 µs a
 * row with 420 words of them, against 44 µs for the title's stemming and the concatenation; 27 →
 * about 5 µs with a 30-word description). Concatenated this way the vector is the same, position
 * for position, as stemming the three texts at once.
 */
const SEARCH_VECTOR = sql`
  setweight(to_tsvector('english'::regconfig, key || ' ' || title), 'A') ||
  search_description || search_comments`;

/**
 * One row per issue (with a full-text search vector) and one per comment: the issue lists, filters,
 * sorts, search and board counts read them.
 */
export const issueList = defineProjection<IssueEvent, IssueListTables>()({
  name: 'issueList',
  // 2: soft-deleted issues (IssueDeleted / IssueRestored) carry `deleted`.
  // 3: the description's and comments' search vectors kept in columns of their own.
  version: 3,
  types: issueEventTypes,
  tables: ['issue_list', 'issue_comments'],
  async createTables(db: Kysely<unknown>) {
    await db.schema
      .createTable('issue_list')
      .addColumn('id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('project_id', 'uuid', (c) => c.notNull())
      .addColumn('number', 'integer', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('title', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('priority', 'text', (c) => c.notNull())
      .addColumn('priority_rank', 'smallint', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('resolution', 'text')
      .addColumn('duplicate_of', 'uuid')
      .addColumn('labels', sql`text[]`, (c) => c.notNull())
      .addColumn('assignee_id', 'uuid')
      .addColumn('reporter_id', 'uuid', (c) => c.notNull())
      .addColumn('due_date', 'date')
      .addColumn('due_key', 'date', (c) => c.notNull())
      .addColumn('comments_text', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('deleted', 'boolean', (c) => c.notNull().defaultTo(false))
      .addColumn('search_description', sql`tsvector`, (c) => c.notNull())
      .addColumn('search_comments', sql`tsvector`, (c) => c.notNull().defaultTo(sql`''::tsvector`))
      .addColumn('search', sql`tsvector`, (c) => c.generatedAlwaysAs(SEARCH_VECTOR).stored())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('issue_comments')
      .addColumn('id', 'uuid', (c) => c.primaryKey())
      .addColumn('issue_id', 'uuid', (c) => c.notNull())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('author_id', 'uuid', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('mentions', sql`uuid[]`, (c) => c.notNull())
      .addColumn('deleted', 'boolean', (c) => c.notNull())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('edited_at', 'timestamptz')
      .addColumn('deleted_at', 'timestamptz')
      .execute();
    await db.schema
      .createIndex('issue_comments_issue')
      .on('issue_comments')
      .columns(['issue_id', 'created_at', 'id'])
      .execute();
  },
  // Built once a rebuild has bulk-loaded the shadow (one sorted build each, side by side on the pool,
  // instead of an entry in thirteen indexes for every row version written), and right after
  // createTables for new tables. issue_comments_issue stays in createTables: apply reads an issue's
  // comments through it.
  async createIndexes(db: Kysely<unknown>) {
    const index = (name: string, columns: string[]) =>
      db.schema.createIndex(name).on('issue_list').columns(columns).execute();
    // Keyset orders: every list sorts by (column, id), inside a project or across the tenant.
    const keysets = ['created_at', 'updated_at', 'priority_rank', 'due_key'].flatMap((column) => [
      index(`issue_list_project_${column}`, ['project_id', column, 'id']),
      index(`issue_list_tenant_${column}`, ['tenant_id', column, 'id']),
    ]);
    await Promise.all([
      ...keysets,
      index('issue_list_project_status_priority', ['project_id', 'status', 'priority_rank', 'id']),
      index('issue_list_project_number', ['project_id', 'number']),
      index('issue_list_assignee', ['tenant_id', 'assignee_id']),
      // Through the builder, not raw SQL: a rebuild builds these outside its transactions, where
      // only the builder's names carry the shadow schema.
      db.schema.createIndex('issue_list_search').on('issue_list').using('gin').column('search').execute(),
      db.schema.createIndex('issue_list_labels').on('issue_list').using('gin').column('labels').execute(),
    ]);
  },
  // A page's comment rows are written first, in order (see writeComments); then every event folds
  // in memory (one read of revisions, one insert, one or two updates), and each issue whose comments
  // changed has its comment text and vector made once, from its final comments.
  async applyBatch(events, db) {
    await writeComments(events, db);
    await foldEvents(events, db);
  },
  apply: applyEvent,
  // Every event names its issue, and folds into that issue's row and comments alone.
  entityOf: (event) => event.data.issueId,
});

/** Folds one event into the issue's rows. */
async function applyEvent(event: Recorded<IssueEvent>, db: Kysely<IssueListTables>) {
  const common = { revision: event.revision, position: event.position.toString() };
  if (event.type === 'IssueCreated') {
    await insertRows([createdRow(event)], db);
    return;
  }
  if (!isCommentEvent(event)) {
    const changes = rowChanges(event);
    await db
      .updateTable('issue_list')
      .set({
        ...changes,
        ...common,
        ...(changes.description === undefined
          ? {}
          : { search_description: descriptionVector(changes.description) }),
      })
      .where('id', '=', event.data.issueId)
      .where('revision', '<', event.revision)
      .execute();
    return;
  }
  await writeComment(event, db);
  // Comments feed the search vector: the live comments' text and its vector, from one aggregate
  // (an UPDATE's SET reads the row as it was, so the vector cannot be made from the new text there).
  await sql`
    update issue_list set (comments_text, search_comments, revision, position) = (
      select text, ${commentsVector(sql.ref('text'))}, ${common.revision}::integer, ${common.position}::bigint
      from (select ${liveCommentsText(event.data.issueId)} as text) as live)
    where id = ${event.data.issueId} and revision < ${event.revision}`.execute(db);
}

type CommentAdded = Extract<CommentEvent, { type: 'CommentAdded' }>;

/**
 * The comment rows of a page's comment events, in order: new comments go in together (new rows,
 * independent of each other), and an edit or a deletion waits for the ones before it.
 */
async function writeComments(events: readonly Recorded<IssueEvent>[], db: Kysely<IssueListTables>) {
  let added: Recorded<CommentAdded>[] = [];
  for (const event of events) {
    if (!isCommentEvent(event)) continue;
    if (event.type === 'CommentAdded') {
      added.push(event);
      continue;
    }
    await insertComments(added, db);
    added = [];
    await writeComment(event, db);
  }
  await insertComments(added, db);
}

const COMMENT_COLUMNS = sql.raw(
  'id, issue_id, tenant_id, author_id, body, mentions, deleted, created_at, edited_at, deleted_at',
);

/**
 * New comments' rows, as one JSON parameter like the issue rows (see insertRows): a page's thousands
 * of them in one statement, whatever its size. One already there (a replayed event) is left as it is.
 */
async function insertComments(events: readonly Recorded<CommentAdded>[], db: Kysely<IssueListTables>) {
  if (events.length === 0) return;
  const rows = events.map(({ data: d }) => ({
    id: d.commentId,
    issue_id: d.issueId,
    tenant_id: d.tenantId,
    author_id: d.authorId,
    body: toStorableText(d.body),
    mentions: d.mentions,
    deleted: false,
    created_at: d.at,
    edited_at: null,
    deleted_at: null,
  }));
  await sql`/* prepared:issue_comments_insert */
    insert into issue_comments (${COMMENT_COLUMNS})
    select ${COMMENT_COLUMNS} from json_populate_recordset(null::issue_comments, ${JSON.stringify(rows)}::json)
    on conflict (id) do nothing`.execute(db);
}

/**
 * A comment event's own row in `issue_comments` (unguarded by revision, as a replay in order needs).
 * An edit or a deletion touches the comment only on the issue it names: an event folds into its own
 * issue's rows alone (`entityOf`), which a page's set-based fold and a rebuild's lanes rely on.
 */
async function writeComment(event: Recorded<CommentEvent>, db: Kysely<IssueListTables>) {
  const at = new Date(event.data.at);
  switch (event.type) {
    case 'CommentAdded':
      await insertComments([event], db);
      break;
    case 'CommentEdited':
      await db
        .updateTable('issue_comments')
        .set({ body: toStorableText(event.data.body), mentions: event.data.mentions, edited_at: at })
        .where('id', '=', event.data.commentId)
        .where('issue_id', '=', event.data.issueId)
        .execute();
      break;
    case 'CommentDeleted':
      await db
        .updateTable('issue_comments')
        .set({ deleted: true, deleted_at: at })
        .where('id', '=', event.data.commentId)
        .where('issue_id', '=', event.data.issueId)
        .execute();
      break;
  }
}
