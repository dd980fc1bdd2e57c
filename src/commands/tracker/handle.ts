import type { CommandStore, StoredEvent } from '../kernel/index.ts';
import {
  aggregate,
  type CommandContext,
  type CommandResult,
  deriveId,
  existsInTenant,
  handle,
  handleNew,
  type Loaded,
  notFound,
} from '../kernel/index.ts';
import type { Actor, ProjectContext } from './access.ts';
import { issueStreamId, projectStreamId, savedFiltersStreamId } from './events.ts';
import { type IssueCommand, type IssueFields, type IssueState, issueDecider } from './issue.ts';
import { type ProjectCommand, type ProjectState, projectDecider } from './project.ts';
import { type SavedFiltersCommand, type SavedFiltersState, savedFiltersDecider } from './saved-filters.ts';

/** A project's id derives from (tenant, key): two creations of one key race for one stream, one wins. */
export const projectIdFor = (tenantId: string, key: string) =>
  deriveId('warden.tracker.project', tenantId, key);
/** An issue's id derives from (project, number): creating the stream claims the number. */
export const issueIdFor = (projectId: string, number: number) =>
  deriveId('warden.tracker.issue', projectId, number);

/** `WARD-42` → its project key and number, or undefined when it is not an issue key. */
export function parseIssueKey(text: string): { key: string; number: number } | undefined {
  const match = /^([A-Z][A-Z0-9]{1,9})-([1-9][0-9]{0,8})$/.exec(text);
  return match ? { key: match[1]!, number: Number(match[2]) } : undefined;
}

const projects = aggregate({
  decider: projectDecider,
  streamId: projectStreamId,
  what: 'project',
  visibleTo: existsInTenant,
});
const issues = aggregate({
  decider: issueDecider,
  streamId: issueStreamId,
  what: 'issue',
  visibleTo: existsInTenant,
});

/** The project in this tenant, or undefined (another tenant's project is as if it did not exist). */
export function findProject(
  store: CommandStore,
  tenantId: string,
  projectId: string,
): Promise<Loaded<ProjectState> | undefined> {
  return projects.find(store, tenantId, projectId);
}

/** The project as issue commands see it. Another tenant's project is a 404, as if it did not exist. */
export async function projectContext(
  store: CommandStore,
  tenantId: string,
  projectId: string,
): Promise<ProjectContext> {
  const found = await findProject(store, tenantId, projectId);
  if (!found) throw notFound('project');
  return contextOf(found.state);
}

export const contextOf = (state: ProjectState): ProjectContext => ({
  projectId: state.projectId,
  archived: state.archived,
  labels: state.labels,
  members: state.members,
});

export async function createProject(
  store: CommandStore,
  input: Omit<Extract<ProjectCommand, { type: 'CreateProject' }>, 'type' | 'projectId'>,
  context: CommandContext,
): Promise<CommandResult<ProjectState>> {
  const projectId = await projectIdFor(input.tenantId, input.key);
  return projects.create(store, projectId, { type: 'CreateProject', projectId, ...input }, context);
}

export async function changeProject(
  store: CommandStore,
  tenantId: string,
  projectId: string,
  command: Exclude<ProjectCommand, { type: 'CreateProject' }>,
  context: CommandContext,
): Promise<CommandResult<ProjectState>> {
  return projects.change(store, tenantId, projectId, command, context);
}

/**
 * Numbers known to be taken, per project (a lower bound of the next free number): saves probing
 * from 1 in a long-running process. Numbers are never freed, so a stale hint is only slow, never wrong.
 */
export interface NumberHints {
  get(projectId: string): number;
  seen(projectId: string, number: number): void;
}

export function numberHints(): NumberHints {
  const taken = new Map<string, number>();
  return {
    get: (projectId) => taken.get(projectId) ?? 0,
    seen: (projectId, number) => {
      if (number > (taken.get(projectId) ?? 0)) taken.set(projectId, number);
    },
  };
}

export interface CreateIssueInput {
  tenantId: string;
  projectId: string;
  actor: Actor;
  assigneeId: string | null;
  fields: IssueFields;
  at: string;
  /** A number known to be taken (e.g. the read model's highest): probing starts after it. */
  knownTaken?: number;
}

/**
 * Creates an issue with the lowest free number of its project, without gaps or duplicates under
 * concurrency and on every event store: number n is taken exactly when the stream of
 * `issueIdFor(project, n)` exists. Starting from a number known to be taken (every number up to
 * a taken one is taken, by induction), it probes upwards and claims the first free one with a
 * `no_stream` append; losing that race to a concurrent creation moves on to the next number. A
 * refused command appends nothing, so it leaves no gap either.
 */
export async function createIssue(
  store: CommandStore,
  input: CreateIssueInput,
  context: CommandContext,
  hints: NumberHints = numberHints(),
): Promise<CommandResult<IssueState>> {
  const found = await findProject(store, input.tenantId, input.projectId);
  if (!found) throw notFound('project');
  const project = contextOf(found.state);
  let number = Math.max(input.knownTaken ?? 0, hints.get(input.projectId)) + 1;
  for (;;) {
    const issueId = await issueIdFor(input.projectId, number);
    const streamId = issueStreamId(issueId);
    const existing = await store.readStream(streamId, { limit: 1 });
    if (existing.length > 0) {
      hints.seen(input.projectId, number);
      number = Math.max(number, hints.get(input.projectId)) + 1;
      continue;
    }
    const command: IssueCommand = {
      type: 'CreateIssue',
      issueId,
      tenantId: input.tenantId,
      number,
      key: `${found.state.key}-${number}`,
      assigneeId: input.assigneeId,
      fields: input.fields,
      actor: input.actor,
      project,
      at: input.at,
    };
    // Random event ids: a command id would give every number's attempt the same ids.
    const created = await handleNew(store, streamId, issueDecider, command, { metadata: context.metadata });
    hints.seen(input.projectId, number);
    if (created) return created;
    number = Math.max(number, hints.get(input.projectId)) + 1;
  }
}

/** The issue in this tenant, or undefined (another tenant's issue is as if it did not exist). */
export function findIssue(
  store: CommandStore,
  tenantId: string,
  issueId: string,
): Promise<Loaded<IssueState> | undefined> {
  return issues.find(store, tenantId, issueId);
}

type ActingCommand = Exclude<IssueCommand, { type: 'CreateIssue' } | { type: 'UnassignLeftUser' }>;
type WithoutProject<C> = C extends unknown ? Omit<C, 'project'> : never;

/**
 * Any user command on an existing issue: the project is read first (members, labels, archived) and
 * handed to the pure decide. Another tenant's issue is a 404.
 */
export async function changeIssue(
  store: CommandStore,
  tenantId: string,
  issueId: string,
  command: WithoutProject<ActingCommand>,
  context: CommandContext,
): Promise<CommandResult<IssueState>> {
  const issue = await issues.find(store, tenantId, issueId);
  if (!issue) throw notFound('issue');
  const project = await projectContext(store, tenantId, issue.state.projectId);
  // cast: re-adding `project` to each member of the distributed Omit gives back the union.
  const full = { ...command, project } as IssueCommand;
  return handle(store, issueStreamId(issueId), issueDecider, full, context);
}

/** One entry of an issue's history: what changed, who changed it, when. */
export interface HistoryEntry {
  revision: number;
  type: string;
  at: string;
  actorId: string | null;
  data: Record<string, unknown>;
}

/** The issue's history, from its events (ids the client already knows are left out). */
export function historyOf(events: readonly StoredEvent[]): HistoryEntry[] {
  return events.map((event) => {
    const { issueId: _i, projectId: _p, tenantId: _t, at, ...data } = event.data as Record<string, unknown>;
    return {
      revision: event.revision,
      type: event.type,
      at: typeof at === 'string' ? at : event.recordedAt.toISOString(),
      actorId: event.metadata.actorId ?? null,
      data,
    };
  });
}

const savedFilters = aggregate({
  decider: savedFiltersDecider,
  streamId: savedFiltersStreamId,
  what: 'saved filter',
  visibleTo: existsInTenant,
});

/** The id of a user's saved-filters stream in a tenant. */
const savedFiltersIdFor = (tenantId: string, ownerId: string) =>
  deriveId('warden.tracker.saved-filters', tenantId, ownerId);

/** The user's saved filters in this tenant, or undefined when they have never saved one. */
export async function findSavedFilters(
  store: CommandStore,
  tenantId: string,
  ownerId: string,
): Promise<Loaded<SavedFiltersState> | undefined> {
  return savedFilters.find(store, tenantId, await savedFiltersIdFor(tenantId, ownerId));
}

export async function saveFilter(
  store: CommandStore,
  input: Omit<Extract<SavedFiltersCommand, { type: 'SaveFilter' }>, 'type'>,
  context: CommandContext,
): Promise<CommandResult<SavedFiltersState>> {
  const id = await savedFiltersIdFor(input.tenantId, input.ownerId);
  return savedFilters.create(store, id, { type: 'SaveFilter', ...input }, context);
}

/** Deletes one of the user's own filters: another user's is not in their stream, so it is a 404. */
export async function deleteSavedFilter(
  store: CommandStore,
  input: { tenantId: string; ownerId: string; filterId: string; at: string },
  context: CommandContext,
): Promise<CommandResult<SavedFiltersState>> {
  const id = await savedFiltersIdFor(input.tenantId, input.ownerId);
  return savedFilters.change(
    store,
    input.tenantId,
    id,
    { type: 'DeleteSavedFilter', filterId: input.filterId, at: input.at },
    context,
  );
}
