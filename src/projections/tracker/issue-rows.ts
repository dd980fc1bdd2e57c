import { type Kysely, type RawBuilder, sql } from 'kysely';
import { toStorableText } from '../../commands/kernel/index.ts';
import { type IssueEvent, priorities } from '../../commands/tracker/index.ts';
import type { Recorded } from '../engine/index.ts';

/* The issue list's rows, what each event makes of them, and the set-based fold of a page of events. */

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

/**
 * The description's and the live comments' search vectors (weights B and C), which the generated
 * `search` concatenates after the title's: written with their text, by SQL, never read back.
 */
interface SearchParts {
  search_description: string;
  search_comments: string;
}

// A type alias (not an interface) so kysely's withTables accepts it.
export type IssueListTables = {
  issue_list: IssueListTable & SearchParts;
  issue_comments: IssueCommentTable;
};

/** The description's search vector (weight B), as `search` concatenates it. */
export const descriptionVector = (text: RawBuilder<string> | string) =>
  sql<string>`setweight(to_tsvector('english'::regconfig, ${text}), 'B')`;

/** The live comments' search vector (weight C), as `search` concatenates it. */
export const commentsVector = (text: RawBuilder<string> | string) =>
  sql<string>`setweight(to_tsvector('english'::regconfig, ${text}), 'C')`;

export const priorityRank = (priority: string) => priorities.indexOf(priority as (typeof priorities)[number]);

type Created = Extract<IssueEvent, { type: 'IssueCreated' }>;
export type CommentEvent = Extract<IssueEvent, { type: 'CommentAdded' | 'CommentEdited' | 'CommentDeleted' }>;
/** The events that change only the issue's own row (no comment rows, no search text from comments). */
type RowEvent = Exclude<IssueEvent, Created | CommentEvent>;

/** A due date the `date` column holds: one of year 0000, stored before it was refused, reads as none. */
const storableDate = (date: string | null) => (date?.startsWith('0000') ? null : date);
/** The keyset column of a due date: none sorts after every date. */
const dueKeyOf = (dueDate: string | null) => dueDate ?? 'infinity';

export function createdRow(recorded: Recorded<Created>): IssueListTable {
  const d = recorded.data;
  return {
    id: d.issueId,
    tenant_id: d.tenantId,
    project_id: d.projectId,
    number: d.number,
    key: d.key,
    title: toStorableText(d.title),
    description: toStorableText(d.description),
    type: d.type,
    priority: d.priority,
    priority_rank: priorityRank(d.priority),
    status: 'open',
    resolution: null,
    duplicate_of: null,
    labels: d.labels,
    assignee_id: d.assigneeId,
    reporter_id: d.reporterId,
    due_date: storableDate(d.dueDate),
    due_key: dueKeyOf(storableDate(d.dueDate)),
    comments_text: '',
    deleted: false,
    created_at: new Date(d.at),
    updated_at: new Date(d.at),
    revision: recorded.revision,
    position: recorded.position.toString(),
  };
}

export const isCommentEvent = (event: IssueEvent): event is CommentEvent =>
  event.type === 'CommentAdded' || event.type === 'CommentEdited' || event.type === 'CommentDeleted';

/** The columns a row event sets on its issue (besides revision and position). */
export function rowChanges(event: RowEvent): Partial<IssueListTable> {
  const at = new Date(event.data.at);
  switch (event.type) {
    case 'IssueEdited': {
      // Set one by one, not spread from conditional literals: Node 20's V8 copies such spreads on a
      // slow path (2.7 µs an edit against 0.4, a hot cost of every catch-up and rebuild page).
      const c = event.data.changes;
      const changes: Partial<IssueListTable> = {};
      if (c.title !== undefined) changes.title = toStorableText(c.title);
      if (c.description !== undefined) changes.description = toStorableText(c.description);
      if (c.type !== undefined) changes.type = c.type;
      if (c.priority !== undefined) {
        changes.priority = c.priority;
        changes.priority_rank = priorityRank(c.priority);
      }
      if (c.labels !== undefined) changes.labels = c.labels;
      if (c.dueDate !== undefined) {
        changes.due_date = storableDate(c.dueDate);
        changes.due_key = dueKeyOf(changes.due_date);
      }
      changes.updated_at = at;
      return changes;
    }
    case 'IssueAssigned':
      return { assignee_id: event.data.assigneeId, updated_at: at };
    case 'IssueDeleted':
      return { deleted: true };
    case 'IssueRestored':
      return { deleted: false };
    case 'IssueUnassigned':
      return { assignee_id: null, updated_at: at };
    case 'IssueStatusChanged':
      return {
        status: event.data.to,
        resolution: event.data.resolution,
        duplicate_of: event.data.duplicateOf,
        updated_at: at,
      };
  }
}

const COLUMNS = [
  'tenant_id',
  'project_id',
  'number',
  'key',
  'title',
  'description',
  'type',
  'priority',
  'priority_rank',
  'status',
  'resolution',
  'duplicate_of',
  'labels',
  'assignee_id',
  'reporter_id',
  'due_date',
  'due_key',
  'comments_text',
  'deleted',
  'created_at',
  'updated_at',
  'revision',
  'position',
] as const satisfies readonly (keyof IssueListTable)[];

/*
 * A page's new rows travel as one JSON parameter, expanded by json_populate_recordset into the
 * table's row type (its changes to existing rows likewise, as deltas: see updateRows): a multi-row
 * VALUES list of 24 parameters a row made the client compile and encode, and the server parse and
 * plan, a statement of thousands of parameters on every page. The texts are fixed, so on PostgreSQL
 * they are named prepared statements (parsed once per connection). Bare table names: during a
 * rebuild `search_path` points at the shadow schema, and a prepared statement is parsed again when
 * `search_path` changes.
 */
const COLUMN_LIST = sql.raw(['id', ...COLUMNS].join(', '));
const UPDATED_LIST = sql.raw(COLUMNS.join(', '));
const rowsJson = (rows: readonly IssueListTable[]) => JSON.stringify(rows);

/** Inserts new issues' rows; a row already there (a replayed creation) is left as it is. */
export async function insertRows(rows: readonly IssueListTable[], db: Kysely<IssueListTables>) {
  if (rows.length === 0) return;
  await sql`/* prepared:issue_list_insert_rows */
    insert into issue_list (${COLUMN_LIST}, search_description, search_comments)
    select ${COLUMN_LIST}, ${descriptionVector(sql.ref('description'))}, ${commentsVector(sql.ref('comments_text'))}
    from json_populate_recordset(null::issue_list, ${rowsJson(rows)}::json)
    on conflict (id) do nothing`.execute(db);
}

/** What a page's row events change on one existing row: only the columns they set, merged in order. */
type RowDelta = Partial<IssueListTable> & Pick<IssueListTable, 'id' | 'revision' | 'position'>;

/** The columns the generated `search` is made from (the description through `search_description`). */
const SEARCHED: ReadonlySet<string> = new Set(['key', 'title', 'description']);
const UNSEARCHED = COLUMNS.filter((c) => !SEARCHED.has(c));
const deltasJson = (deltas: readonly RowDelta[]) => sql`
  (select (e->>'id')::uuid as id, e as delta from jsonb_array_elements(${JSON.stringify(deltas)}::jsonb) as e)`;

/**
 * Writes each existing row's merged changes: `jsonb_populate_record` lays a row's delta over the row
 * as it is (every column is set from it, and a column the delta does not name keeps its value), so
 * neither the rows nor their unchanged columns travel either way. Reading the rows whole to fold them
 * in memory, and sending them whole again, cost the issue list's catch-up about a sixth of this
 * process's CPU (bench:eventstore's backlog, 9 alternated runs: 25.2 → 21.1 µs an event at the
 * median; its rebuild 25.5 → 20.3 here and 45.9 → 37.8 in the server). An UPDATE, not an upsert:
 * INSERT … ON CONFLICT computes the generated search vector for the row it tries to insert and again
 * for the update, and stemming is the largest part of a row's write.
 *
 * Two statements, so the search vector is computed only where its text changed: PostgreSQL computes
 * a generated column again when an UPDATE sets any column it reads, even to the same value. Deltas
 * that change the title or the description go through one that sets every column (the description's
 * vector stemmed again only where the description changed); the rest (status changes, assignments,
 * deletions: most of a tracker's updates) through one that sets none of the searched columns.
 */
async function updateRows(deltas: readonly RowDelta[], db: Kysely<IssueListTables>) {
  const searched: RowDelta[] = [];
  const unsearched: RowDelta[] = [];
  for (const delta of deltas) {
    (Object.keys(delta).some((column) => SEARCHED.has(column)) ? searched : unsearched).push(delta);
  }
  if (searched.length > 0) {
    await sql`/* prepared:issue_list_update_rows */
      update issue_list as t set (${UPDATED_LIST}, search_description) = (
        select ${sql.raw(COLUMNS.map((c) => `n.${c}`).join(', '))},
          case when t.description is distinct from n.description
            then ${descriptionVector(sql.ref('n.description'))} else t.search_description end
        from jsonb_populate_record(t, r.delta) as n)
      from ${deltasJson(searched)} as r
      where t.id = r.id`.execute(db);
  }
  if (unsearched.length > 0) {
    await sql`/* prepared:issue_list_update_unsearched */
      update issue_list as t set (${sql.raw(UNSEARCHED.join(', '))}) = (
        select ${sql.raw(UNSEARCHED.map((c) => `n.${c}`).join(', '))} from jsonb_populate_record(t, r.delta) as n)
      from ${deltasJson(unsearched)} as r
      where t.id = r.id`.execute(db);
  }
}

/**
 * The revisions of these issues' rows, the fold's guard (a row that already has an event by its
 * revision is not changed by it again).
 * Planned on every call, not a named prepared statement: a generic plan for `= any(array)` guesses
 * ten elements, and made on a table that was still small (a fresh install, a rebuild's new shadow)
 * it is a sequential scan comparing every row with every id, which the connection then keeps until
 * an ANALYZE (seen with auto_explain during bench:eventstore: 141–367 ms a page on some connections,
 * index scans on others; uuid_eq and the array test were a tenth of the server's CPU in a rebuild).
 * Planning once a page of up to 1,000 events costs a fraction of a millisecond.
 */
async function readRevisions(ids: readonly string[], db: Kysely<IssueListTables>) {
  const { rows } = await sql<{ id: string; revision: number }>`
    select id, revision from issue_list where id = any(${[...ids]}::uuid[])`.execute(db);
  return new Map(rows.map((row) => [row.id, Number(row.revision)]));
}

/** The live comments' text of an issue, oldest first: what `comments_text` holds and its vector stems. */
export const liveCommentsText = (issueId: RawBuilder<unknown> | string) => sql<string>`
  (select coalesce(string_agg(body, ' ' order by created_at, id), '')
   from issue_comments where issue_id = ${issueId} and deleted = false)`;

/**
 * Makes these issues' comment text and its vector from their comments as they are now. Once per
 * issue per page: a comment event applied on its own makes them from every live comment again, so a
 * page with k comments on one thread stemmed 1 + 2 + … + k of them, in two statements an event.
 */
async function updateComments(ids: readonly string[], db: Kysely<IssueListTables>) {
  if (ids.length === 0) return;
  await sql`
    update issue_list as t set (comments_text, search_comments) = (
      select text, ${commentsVector(sql.ref('text'))} from (select ${liveCommentsText(sql.ref('t.id'))} as text) as live)
    where t.id = any(${[...ids]}::uuid[])`.execute(db);
}

/**
 * Folds a page of events (their comment rows already written, in order) the way `apply` on each in
 * turn would, with a few statements: the revisions of issues with later events are read once; a
 * creation of an issue not there yet makes its row in memory, which the issue's later events fold
 * onto; an existing row's events merge into one delta of the columns they set (a creation of an
 * existing issue, and an event the row already has by revision, change nothing, as the per-event
 * statements' guards make them); a comment event moves the revision like any other and marks the
 * issue's comments to be made again. Then new rows go in with one multi-row insert, the deltas with
 * one update (two when some change searched text: see updateRows), and each marked issue's comment
 * text once, from its final comments: the last comment event `apply` would fold sees them all, since
 * a page's events of one issue come in revision order.
 */
export async function foldEvents(events: readonly Recorded<IssueEvent>[], db: Kysely<IssueListTables>) {
  if (events.length === 0) return;
  const updated = [...new Set(events.filter((e) => e.type !== 'IssueCreated').map((e) => e.data.issueId))];
  const known = updated.length === 0 ? new Map<string, number>() : await readRevisions(updated, db);
  const inserted = new Map<string, IssueListTable>();
  const deltas = new Map<string, RowDelta>();
  const commented = new Set<string>();
  for (const event of events) {
    const id = event.data.issueId;
    if (event.type === 'IssueCreated') {
      if (known.has(id) || inserted.has(id)) continue;
      inserted.set(id, createdRow(event));
      continue;
    }
    const row = inserted.get(id);
    const delta = deltas.get(id);
    const revision = row?.revision ?? delta?.revision ?? known.get(id);
    if (revision === undefined || revision >= event.revision) continue;
    // Merged in place: the rows and deltas are this fold's own objects. (Copies made with spreads,
    // `{ ...delta, id, ...changes }`, take a slow path in Node 20's V8: about 1 µs each.)
    let into = row ?? delta;
    if (!into) {
      into = { id, revision, position: '' };
      deltas.set(id, into);
    }
    if (isCommentEvent(event)) commented.add(id);
    else Object.assign(into, rowChanges(event));
    into.revision = event.revision;
    into.position = event.position.toString();
  }
  await insertRows([...inserted.values()], db);
  await updateRows([...deltas.values()], db);
  await updateComments([...commented], db);
}
