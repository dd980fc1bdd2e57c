import { type Kysely, sql } from 'kysely';
import { type IssueEvent, issueEventTypes, priorities } from '../../commands/tracker/index.ts';
import { defineProjection, type Recorded } from '../engine/index.ts';

export interface IssueListTable {
  id: string;
  tenant_id: string;
  project_id: string;
  number: number;
  key: string;
  title: string;
  description: string;
  type: string;
  priority: string;
  /** 0 (lowest) … 4 (highest): sorts by priority. */
  priority_rank: number;
  status: string;
  resolution: string | null;
  duplicate_of: string | null;
  labels: string[];
  assignee_id: string | null;
  reporter_id: string;
  due_date: string | null;
  /** The due date, or 'infinity' without one: a non-null key for keyset paging by due date. */
  due_key: string;
  /** Live comments' text, for search. */
  comments_text: string;
  /** Deleted (softly): left out of every list and count; the row stays so a restore brings it back whole. */
  deleted: boolean;
  created_at: Date;
  updated_at: Date;
  revision: number;
  position: string;
}

export interface IssueCommentTable {
  id: string;
  issue_id: string;
  tenant_id: string;
  author_id: string;
  body: string;
  mentions: string[];
  deleted: boolean;
  created_at: Date;
  edited_at: Date | null;
  deleted_at: Date | null;
}

// A type alias (not an interface) so kysely's withTables accepts it.
export type IssueListTables = {
  issue_list: IssueListTable;
  issue_comments: IssueCommentTable;
};

export const priorityRank = (priority: string) => priorities.indexOf(priority as (typeof priorities)[number]);

/**
 * The weighted search document: key and title weigh most (A), the description next (B), comments
 * least (C). A generated column, so every write keeps it in step; 'english' stems words, and
 * queries add `:*` for prefix matching.
 */
const SEARCH_VECTOR = sql`
  setweight(to_tsvector('english'::regconfig, key || ' ' || title), 'A') ||
  setweight(to_tsvector('english'::regconfig, description), 'B') ||
  setweight(to_tsvector('english'::regconfig, comments_text), 'C')`;

type Created = Extract<IssueEvent, { type: 'IssueCreated' }>;

function createdRow(recorded: Recorded<Created>): IssueListTable {
  const d = recorded.data;
  return {
    id: d.issueId,
    tenant_id: d.tenantId,
    project_id: d.projectId,
    number: d.number,
    key: d.key,
    title: d.title,
    description: d.description,
    type: d.type,
    priority: d.priority,
    priority_rank: priorityRank(d.priority),
    status: 'open',
    resolution: null,
    duplicate_of: null,
    labels: d.labels,
    assignee_id: d.assigneeId,
    reporter_id: d.reporterId,
    due_date: d.dueDate,
    due_key: d.dueDate ?? 'infinity',
    comments_text: '',
    deleted: false,
    created_at: new Date(d.at),
    updated_at: new Date(d.at),
    revision: recorded.revision,
    position: recorded.position.toString(),
  };
}

/** Issue creations, many rows per statement (a replay or a catch-up is mostly these). */
async function insertCreated(events: readonly Recorded<Created>[], db: Kysely<IssueListTables>) {
  for (let i = 0; i < events.length; i += 500) {
    await db
      .insertInto('issue_list')
      .values(events.slice(i, i + 500).map(createdRow))
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }
}

/**
 * One row per issue (with a full-text search vector) and one per comment: the issue lists, filters,
 * sorts, search and board counts read them.
 */
export const issueList = defineProjection<IssueEvent, IssueListTables>()({
  name: 'issueList',
  // 2: soft-deleted issues (IssueDeleted / IssueRestored) carry `deleted`.
  version: 2,
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
      .addColumn('search', sql`tsvector`, (c) => c.generatedAlwaysAs(SEARCH_VECTOR).stored())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .addColumn('revision', 'integer', (c) => c.notNull())
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute();
    const index = (name: string, columns: string[]) =>
      db.schema.createIndex(name).on('issue_list').columns(columns).execute();
    // Keyset orders: every list sorts by (column, id), inside a project or across the tenant.
    for (const column of ['created_at', 'updated_at', 'priority_rank', 'due_key']) {
      await index(`issue_list_project_${column}`, ['project_id', column, 'id']);
      await index(`issue_list_tenant_${column}`, ['tenant_id', column, 'id']);
    }
    await index('issue_list_project_status_priority', ['project_id', 'status', 'priority_rank', 'id']);
    await index('issue_list_project_number', ['project_id', 'number']);
    await index('issue_list_assignee', ['tenant_id', 'assignee_id']);
    await sql`create index issue_list_search on issue_list using gin (search)`.execute(db);
    await sql`create index issue_list_labels on issue_list using gin (labels)`.execute(db);
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
  async applyBatch(events, db) {
    let creations: Recorded<Created>[] = [];
    for (const event of events) {
      if (event.type === 'IssueCreated') {
        creations.push(event);
        continue;
      }
      await insertCreated(creations, db);
      creations = [];
      await applyEvent(event, db);
    }
    await insertCreated(creations, db);
  },
  apply: applyEvent,
});

/** Folds one event into the issue's rows. */
async function applyEvent(event: Recorded<IssueEvent>, db: Kysely<IssueListTables>) {
  const common = { revision: event.revision, position: event.position.toString() };
  if (event.type === 'IssueCreated') {
    await insertCreated([event], db);
    return;
  }
  const at = new Date(event.data.at);
  const update = (changes: Partial<IssueListTable>) =>
    db
      .updateTable('issue_list')
      .set({ ...changes, ...common })
      .where('id', '=', event.data.issueId)
      .where('revision', '<', event.revision)
      .execute();
  switch (event.type) {
    case 'IssueEdited': {
      const c = event.data.changes;
      return void (await update({
        ...(c.title === undefined ? {} : { title: c.title }),
        ...(c.description === undefined ? {} : { description: c.description }),
        ...(c.type === undefined ? {} : { type: c.type }),
        ...(c.priority === undefined
          ? {}
          : { priority: c.priority, priority_rank: priorityRank(c.priority) }),
        ...(c.labels === undefined ? {} : { labels: c.labels }),
        ...(c.dueDate === undefined ? {} : { due_date: c.dueDate, due_key: c.dueDate ?? 'infinity' }),
        updated_at: at,
      }));
    }
    case 'IssueAssigned':
      return void (await update({ assignee_id: event.data.assigneeId, updated_at: at }));
    case 'IssueDeleted':
      return void (await update({ deleted: true }));
    case 'IssueRestored':
      return void (await update({ deleted: false }));
    case 'IssueUnassigned':
      return void (await update({ assignee_id: null, updated_at: at }));
    case 'IssueStatusChanged':
      return void (await update({
        status: event.data.to,
        resolution: event.data.resolution,
        duplicate_of: event.data.duplicateOf,
        updated_at: at,
      }));
    case 'CommentAdded': {
      const d = event.data;
      await db
        .insertInto('issue_comments')
        .values({
          id: d.commentId,
          issue_id: d.issueId,
          tenant_id: d.tenantId,
          author_id: d.authorId,
          body: d.body,
          mentions: d.mentions,
          deleted: false,
          created_at: at,
          edited_at: null,
          deleted_at: null,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
      break;
    }
    case 'CommentEdited':
      await db
        .updateTable('issue_comments')
        .set({ body: event.data.body, mentions: event.data.mentions, edited_at: at })
        .where('id', '=', event.data.commentId)
        .execute();
      break;
    case 'CommentDeleted':
      await db
        .updateTable('issue_comments')
        .set({ deleted: true, deleted_at: at })
        .where('id', '=', event.data.commentId)
        .execute();
      break;
  }
  // Comments feed the search vector (the generated column follows comments_text).
  await db
    .updateTable('issue_list')
    .set((eb) => ({
      comments_text: eb.fn.coalesce(
        eb
          .selectFrom('issue_comments')
          .select(sql<string>`string_agg(body, ' ' order by created_at, id)`.as('text'))
          .where('issue_id', '=', event.data.issueId)
          .where('deleted', '=', false),
        sql<string>`''`,
      ),
      ...common,
    }))
    .where('id', '=', event.data.issueId)
    .where('revision', '<', event.revision)
    .execute();
}
