import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fold } from '../../src/commands/kernel/decider.ts';
import { DomainError } from '../../src/commands/kernel/errors.ts';
import {
  type IssueCommand,
  type IssueEvent,
  type IssueState,
  issueDecider,
  issueStatuses,
  type ProjectContext,
  trackerEventSchemas,
  transitions,
  workStatuses,
} from '../../src/commands/tracker/index.ts';
import { specFor } from '../support/decider-spec.ts';
import {
  actor,
  at,
  base,
  created,
  fields,
  issueId,
  moved,
  otherIssueId,
  otherProjectId,
  type Person,
  people,
  project,
  projectId,
  tenantId,
} from './support.ts';

const spec = specFor(issueDecider);
const as = (who: Person, p: ProjectContext = project()) => ({ actor: actor(who), project: p, at });
const assigned = (who: Person, previous: string | null = null): IssueEvent => ({
  type: 'IssueAssigned',
  data: { ...base('lead'), assigneeId: people[who], previous },
});
const sameProject = { issueId: otherIssueId, found: { projectId } };

describe('issue decider: creation', () => {
  it('creates an issue reported by the actor, with the number and key it was given', () => {
    spec
      .given([])
      .when({
        type: 'CreateIssue',
        issueId,
        tenantId,
        number: 1,
        key: 'WARD-1',
        assigneeId: null,
        fields,
        ...as('ann'),
      })
      .thenEvents([created()]);
  });

  it('refuses viewers and outsiders (403), unknown labels and non-member assignees (422), archived projects (409)', () => {
    const create = (who: Person, over: Partial<Extract<IssueCommand, { type: 'CreateIssue' }>> = {}) =>
      ({
        type: 'CreateIssue',
        issueId,
        tenantId,
        number: 1,
        key: 'WARD-1',
        assigneeId: null,
        fields,
        ...as(who),
        ...over,
      }) as IssueCommand;
    spec.given([]).when(create('viv')).thenFails('FORBIDDEN', 'viewers_read_only');
    spec.given([]).when(create('out')).thenFails('FORBIDDEN', 'members_only');
    spec
      .given([])
      .when(create('ann', { fields: { ...fields, labels: ['nope'] } }))
      .thenFails('INVALID', 'known_labels');
    spec
      .given([])
      .when(create('ann', { assigneeId: people.out }))
      .thenFails('INVALID', 'assignee_must_be_member');
    spec
      .given([])
      .when(create('ann', { assigneeId: people.viv }))
      .thenFails('INVALID', 'assignee_must_be_member');
    spec
      .given([])
      .when(create('admin', { project: project({ archived: true }) }))
      .thenFails('RULE_VIOLATED', 'project_archived');
    spec.given([created()]).when(create('ann')).thenFails('CONFLICT');
  });
});

describe('issue decider: the status state machine and its rules', () => {
  it('moving to in_progress needs an assignee', () => {
    spec
      .given([created()])
      .when({ type: 'TransitionIssue', to: 'in_progress', ...as('ann') })
      .thenFails('RULE_VIOLATED', 'in_progress_needs_assignee');
    spec
      .given([created(people.ann)])
      .when({ type: 'TransitionIssue', to: 'in_progress', ...as('ann') })
      .thenEvents([moved('open', 'in_progress', 'ann')]);
  });

  it('resolving needs a resolution, and only the assignee, a lead or a tenant admin may resolve', () => {
    const given = spec.given([created(people.ann)]);
    given
      .when({ type: 'TransitionIssue', to: 'resolved', ...as('ann') })
      .thenFails('RULE_VIOLATED', 'resolution_required');
    given
      .when({ type: 'TransitionIssue', to: 'resolved', resolution: 'fixed', ...as('bob') })
      .thenFails('FORBIDDEN', 'resolver_role');
    given
      .when({ type: 'TransitionIssue', to: 'resolved', resolution: 'fixed', ...as('ann') })
      .thenEvents([moved('open', 'resolved', 'ann', { resolution: 'fixed' })]);
    given
      .when({ type: 'TransitionIssue', to: 'resolved', resolution: 'wont_fix', ...as('lead') })
      .thenEvents([moved('open', 'resolved', 'lead', { resolution: 'wont_fix' })]);
    given
      .when({ type: 'TransitionIssue', to: 'resolved', resolution: 'cannot_reproduce', ...as('admin') })
      .thenEvents([moved('open', 'resolved', 'admin', { resolution: 'cannot_reproduce' })]);
    given
      .when({ type: 'TransitionIssue', to: 'in_progress', resolution: 'fixed', ...as('ann') })
      .thenFails('RULE_VIOLATED', 'resolution_required');
  });

  it('a duplicate needs duplicate_of: another existing issue of the same project', () => {
    const given = spec.given([created(people.ann)]);
    const dup = (duplicateOf?: { issueId: string; found: { projectId: string } | null }): IssueCommand => ({
      type: 'TransitionIssue',
      to: 'resolved',
      resolution: 'duplicate',
      ...(duplicateOf ? { duplicateOf } : {}),
      ...as('ann'),
    });
    given.when(dup()).thenFails('RULE_VIOLATED', 'duplicate_needs_original');
    given
      .when(dup({ issueId: otherIssueId, found: null }))
      .thenFails('RULE_VIOLATED', 'duplicate_needs_original');
    given
      .when(dup({ issueId: otherIssueId, found: { projectId: otherProjectId } }))
      .thenFails('RULE_VIOLATED', 'duplicate_needs_original');
    given.when(dup({ issueId, found: { projectId } })).thenFails('RULE_VIOLATED', 'duplicate_needs_original');
    given
      .when(dup(sameProject))
      .thenEvents([moved('open', 'resolved', 'ann', { resolution: 'duplicate', duplicateOf: otherIssueId })]);
  });

  it('closing a resolved issue keeps its resolution (found by the property test below, seed 1725139412)', () => {
    const resolved = moved('open', 'resolved', 'ann', { resolution: 'fixed' });
    spec
      .given([created(people.ann), resolved])
      .when({ type: 'TransitionIssue', to: 'closed', ...as('ann') })
      .thenEvents([moved('resolved', 'closed', 'ann', { resolution: 'fixed' })]);
  });

  it('a closed issue changes only by reopening it; reopening clears the resolution', () => {
    const closed = [
      created(people.ann),
      moved('open', 'resolved', 'ann', { resolution: 'fixed' }),
      moved('resolved', 'closed', 'ann'),
    ];
    const given = spec.given(closed);
    given
      .when({ type: 'EditIssue', changes: { title: 'x' }, ...as('ann') })
      .thenFails('RULE_VIOLATED', 'closed_is_final');
    given
      .when({ type: 'AssignIssue', assigneeId: people.bob, ...as('lead') })
      .thenFails('RULE_VIOLATED', 'closed_is_final');
    given
      .when({ type: 'AddComment', commentId: otherIssueId, body: 'hi', ...as('ann') })
      .thenFails('RULE_VIOLATED', 'closed_is_final');
    given
      .when({ type: 'TransitionIssue', to: 'in_progress', ...as('ann') })
      .thenFails('RULE_VIOLATED', 'closed_is_final');
    given
      .when({ type: 'TransitionIssue', to: 'open', ...as('bob') })
      .thenEvents([moved('closed', 'open', 'bob')]);
    const reopened = fold(issueDecider, [...closed, moved('closed', 'open', 'bob')]);
    expect(reopened.resolution).toBeNull();
  });

  it('refuses moves outside the table and says where the issue may go', () => {
    spec
      .given([created(people.ann)])
      .when({ type: 'TransitionIssue', to: 'closed', ...as('ann') })
      .thenFails('RULE_VIOLATED', 'transition_not_allowed');
    spec
      .given([created(people.ann)])
      .when({ type: 'TransitionIssue', to: 'open', ...as('ann') })
      .thenFails('RULE_VIOLATED', 'transition_not_allowed');
  });

  it('viewers cannot change anything, not even comment', () => {
    const given = spec.given([created(people.ann)]);
    for (const command of [
      { type: 'EditIssue', changes: { title: 'x' } },
      { type: 'AssignIssue', assigneeId: people.bob },
      { type: 'TransitionIssue', to: 'in_progress' },
      { type: 'AddComment', commentId: otherIssueId, body: 'hi' },
    ] as const) {
      given.when({ ...command, ...as('viv') } as IssueCommand).thenFails('FORBIDDEN', 'viewers_read_only');
    }
  });

  it('an issue in progress cannot be unassigned by hand', () => {
    spec
      .given([created(people.ann), moved('open', 'in_progress', 'ann')])
      .when({ type: 'AssignIssue', assigneeId: null, ...as('lead') })
      .thenFails('RULE_VIOLATED', 'in_progress_needs_assignee');
  });
});

describe('issue decider: edits, assignment and comments', () => {
  it('records only the fields that change; an edit that changes nothing appends nothing', () => {
    spec
      .given([created()])
      .when({
        type: 'EditIssue',
        changes: { title: 'Login fails on Safari', priority: 'high' },
        ...as('bob'),
      })
      .thenEvents([
        { type: 'IssueEdited', data: { ...base('bob'), changes: { title: 'Login fails on Safari' } } },
      ]);
    spec
      .given([created()])
      .when({ type: 'EditIssue', changes: { title: fields.title }, ...as('bob') })
      .thenEvents([]);
  });

  it('assigns project members only', () => {
    spec
      .given([created()])
      .when({ type: 'AssignIssue', assigneeId: people.bob, ...as('lead') })
      .thenEvents([assigned('bob')]);
    spec
      .given([created()])
      .when({ type: 'AssignIssue', assigneeId: people.out, ...as('lead') })
      .thenFails('INVALID', 'assignee_must_be_member');
  });

  it('records mentions of project members; the author edits (keeping the old text), author or lead deletes', () => {
    const commentId = 'c1a2b3c4-d5e6-4f70-8a91-b2c3d4e5f607';
    spec
      .given([created()])
      .when({
        type: 'AddComment',
        commentId,
        body: 'cc @bob@example.com and @nobody@example.com',
        ...as('ann'),
      })
      .thenEvents([
        {
          type: 'CommentAdded',
          data: {
            issueId,
            projectId,
            tenantId,
            commentId,
            authorId: people.ann,
            body: 'cc @bob@example.com and @nobody@example.com',
            mentions: [people.bob],
            at,
          },
        },
      ]);
    const withComment = spec.given([
      created(),
      {
        type: 'CommentAdded',
        data: {
          issueId,
          projectId,
          tenantId,
          commentId,
          authorId: people.ann,
          body: 'first',
          mentions: [],
          at,
        },
      },
    ]);
    withComment
      .when({ type: 'EditComment', commentId, body: 'second @lead@example.com', ...as('ann') })
      .thenEvents([
        {
          type: 'CommentEdited',
          data: {
            ...base('ann'),
            commentId,
            body: 'second @lead@example.com',
            previousBody: 'first',
            mentions: [people.lead],
          },
        },
      ]);
    withComment
      .when({ type: 'EditComment', commentId, body: 'mine now', ...as('bob') })
      .thenFails('FORBIDDEN', 'comment_author_only');
    withComment
      .when({ type: 'DeleteComment', commentId, ...as('bob') })
      .thenFails('FORBIDDEN', 'comment_delete_role');
    withComment
      .when({ type: 'DeleteComment', commentId, ...as('lead') })
      .thenEvents([{ type: 'CommentDeleted', data: { ...base('lead'), commentId } }]);
    spec
      .given([created()])
      .when({ type: 'EditComment', commentId, body: 'x', ...as('ann') })
      .thenFails('NOT_FOUND');
  });

  it('unassigns a user who left the tenant and sends their work in progress back to open, saying why', () => {
    const by = 'process:issueRules';
    spec
      .given([created(people.ann), moved('open', 'in_progress', 'ann')])
      .when({ type: 'UnassignLeftUser', userId: people.ann, by, at })
      .thenEvents([
        {
          type: 'IssueUnassigned',
          data: {
            issueId,
            projectId,
            tenantId,
            at,
            by,
            previous: people.ann,
            reason: 'assignee_left_tenant',
          },
        },
        {
          type: 'IssueStatusChanged',
          data: {
            issueId,
            projectId,
            tenantId,
            at,
            by,
            from: 'in_progress',
            to: 'open',
            resolution: null,
            duplicateOf: null,
            reason: 'assignee_left_tenant',
          },
        },
      ]);
    spec
      .given([created(people.bob)])
      .when({ type: 'UnassignLeftUser', userId: people.ann, by, at })
      .thenEvents([]);
    spec
      .given([created(people.ann), moved('open', 'resolved', 'ann', { resolution: 'fixed' })])
      .when({ type: 'UnassignLeftUser', userId: people.ann, by, at })
      .thenEvents([]);
  });
});

// ── property: random commands by random actors never leave an issue where the table forbids ──

const who = fc.constantFrom<Person>('lead', 'ann', 'bob', 'viv', 'out', 'admin');
const someone = fc.constantFrom<string | null>(
  null,
  people.lead,
  people.ann,
  people.bob,
  people.viv,
  people.out,
);
const commentIds = ['c0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000002'];
type Make = (p: ProjectContext) => IssueCommand;
const command: fc.Arbitrary<Make> = fc.oneof(
  fc.record({ who, title: fc.constantFrom('a', 'b'), labels: fc.subarray(['api', 'ui', 'zzz']) }).map(
    (r): Make =>
      (p) => ({
        type: 'EditIssue',
        changes: { title: r.title, labels: r.labels },
        actor: actor(r.who),
        project: p,
        at,
      }),
  ),
  fc.record({ who, assignee: someone }).map(
    (r): Make =>
      (p) => ({
        type: 'AssignIssue',
        assigneeId: r.assignee,
        actor: actor(r.who),
        project: p,
        at,
      }),
  ),
  fc
    .record({
      who,
      to: fc.constantFrom(...issueStatuses),
      resolution: fc.option(fc.constantFrom('fixed', 'wont_fix', 'duplicate', 'cannot_reproduce' as const), {
        nil: undefined,
      }),
      dup: fc.option(
        fc.constantFrom(
          sameProject,
          { issueId: otherIssueId, found: { projectId: otherProjectId } },
          { issueId, found: { projectId } },
          { issueId: otherIssueId, found: null },
        ),
        { nil: undefined },
      ),
    })
    .map(
      (r): Make =>
        (p) => ({
          type: 'TransitionIssue',
          to: r.to,
          ...(r.resolution ? { resolution: r.resolution } : {}),
          ...(r.dup ? { duplicateOf: r.dup } : {}),
          actor: actor(r.who),
          project: p,
          at,
        }),
    ),
  fc
    .record({ who, id: fc.constantFrom(...commentIds), body: fc.constantFrom('x', 'y @bob@example.com') })
    .map(
      (r): Make =>
        (p) => ({
          type: 'AddComment',
          commentId: r.id,
          body: r.body,
          actor: actor(r.who),
          project: p,
          at,
        }),
    ),
  fc.record({ who, id: fc.constantFrom(...commentIds), body: fc.constantFrom('x', 'z') }).map(
    (r): Make =>
      (p) => ({
        type: 'EditComment',
        commentId: r.id,
        body: r.body,
        actor: actor(r.who),
        project: p,
        at,
      }),
  ),
  fc.record({ who, id: fc.constantFrom(...commentIds) }).map(
    (r): Make =>
      (p) => ({ type: 'DeleteComment', commentId: r.id, actor: actor(r.who), project: p, at }),
  ),
  fc
    .constantFrom(people.ann, people.bob)
    .map(
      (userId) => () => ({ type: 'UnassignLeftUser', userId, by: 'process:issueRules', at }) as IssueCommand,
    ),
);

function checkInvariants(state: IssueState, p: ProjectContext): void {
  if (workStatuses.includes(state.status)) expect(state.assigneeId).not.toBeNull();
  if (state.status === 'resolved' || state.status === 'closed') expect(state.resolution).not.toBeNull();
  else expect(state.resolution).toBeNull();
  expect(state.duplicateOf !== null).toBe(state.resolution === 'duplicate');
  if (state.duplicateOf !== null) expect(state.duplicateOf).toBe(otherIssueId);
  if (state.assigneeId !== null) expect(['lead', 'member']).toContain(p.members[state.assigneeId]?.role);
  for (const label of state.labels) expect(p.labels).toContain(label);
}

describe('issue decider: properties', () => {
  it('any sequence of commands by any actors keeps every rule of the table, and replaying the events gives the same state', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(command, { maxLength: 40 }), (archived, commands) => {
        const p = project({ archived });
        const events: IssueEvent[] = [created(people.ann)];
        let state = fold(issueDecider, events);
        for (const make of commands) {
          const cmd = make(p);
          const before = state;
          let produced: IssueEvent[] = [];
          try {
            produced = issueDecider.decide(cmd, before);
          } catch (error) {
            expect(error).toBeInstanceOf(DomainError);
            continue;
          }
          for (const event of produced) {
            expect(trackerEventSchemas[event.type].safeParse(event.data).success).toBe(true);
            if (event.type === 'IssueStatusChanged') {
              expect(transitions[event.data.from]).toContain(event.data.to);
              if (event.data.to === 'resolved') {
                const a = 'actor' in cmd ? cmd.actor : undefined;
                expect(
                  a &&
                    (a.tenantAdmin || a.userId === before.assigneeId || p.members[a.userId]?.role === 'lead'),
                ).toBeTruthy();
              }
            }
          }
          if (produced.length > 0 && 'actor' in cmd) {
            const role = p.members[cmd.actor.userId]?.role;
            expect(cmd.actor.tenantAdmin || role === 'lead' || role === 'member').toBe(true);
            expect(archived).toBe(false);
          }
          if (before.status === 'closed' && produced.length > 0) {
            expect(produced).toHaveLength(1);
            expect(produced[0]).toMatchObject({ type: 'IssueStatusChanged', data: { to: 'open' } });
          }
          events.push(...produced);
          state = produced.reduce(issueDecider.evolve, before);
          checkInvariants(state, p);
        }
        expect(fold(issueDecider, events)).toEqual(state);
      }),
      { numRuns: 500 },
    );
  });
});
