import { ruleViolated } from '../kernel/index.ts';
import { refused, roleIn } from './access.ts';
import type { IssueEvent } from './events.ts';
import type { IssueCommand } from './issue-commands.ts';
import type { IssueState } from './issue-state.ts';
import { transitions, workStatuses } from './rules.ts';

/* The issue's workflow: status transitions, and what a user leaving the tenant does to their issues. */

/** A status transition, checked against the workflow's rules. */
export function transition(
  command: Extract<IssueCommand, { type: 'TransitionIssue' }>,
  state: IssueState,
  base: { issueId: string; projectId: string; tenantId: string; at: string; by: string },
): IssueEvent[] {
  const { to, actor, project } = command;
  if (!transitions[state.status].includes(to)) {
    throw ruleViolated(
      'transition_not_allowed',
      `an issue cannot move from ${state.status} to ${to}; from ${state.status} it may go to ${transitions[state.status].join(', ')}`,
    );
  }
  if (workStatuses.includes(to) && state.assigneeId === null) {
    throw ruleViolated('in_progress_needs_assignee', `moving to ${to} needs an assignee`);
  }
  if (to !== 'resolved') {
    if (command.resolution !== undefined || command.duplicateOf !== undefined) {
      throw ruleViolated('resolution_required', 'only a move to resolved takes a resolution');
    }
    // Closing keeps the resolution it was resolved with; every other move (a reopen) clears it.
    const closing = to === 'closed';
    return [
      {
        type: 'IssueStatusChanged',
        data: {
          ...base,
          from: state.status,
          to,
          resolution: closing ? state.resolution : null,
          duplicateOf: closing ? state.duplicateOf : null,
          reason: null,
        },
      },
    ];
  }
  if (command.resolution === undefined) {
    throw ruleViolated(
      'resolution_required',
      'resolving needs a resolution: fixed, wont_fix, duplicate or cannot_reproduce',
    );
  }
  let duplicateOf: string | null = null;
  if (command.resolution === 'duplicate') {
    const target = command.duplicateOf;
    if (!target) throw ruleViolated('duplicate_needs_original', 'resolution duplicate needs duplicate_of');
    if (target.issueId === state.issueId) {
      throw ruleViolated('duplicate_needs_original', 'an issue cannot duplicate itself');
    }
    if (!target.found || target.found.projectId !== state.projectId) {
      throw ruleViolated(
        'duplicate_needs_original',
        'duplicate_of must be an existing issue of the same project',
      );
    }
    duplicateOf = target.issueId;
  } else if (command.duplicateOf !== undefined) {
    throw ruleViolated('duplicate_needs_original', 'duplicate_of goes only with resolution duplicate');
  }
  const mayResolve =
    actor.tenantAdmin || actor.userId === state.assigneeId || roleIn(project, actor.userId) === 'lead';
  if (!mayResolve)
    throw refused('resolver_role', 'only the assignee, a project lead or a tenant admin may resolve');
  return [
    {
      type: 'IssueStatusChanged',
      data: { ...base, from: state.status, to, resolution: command.resolution, duplicateOf, reason: null },
    },
  ];
}

/** The assignee left the tenant: unassign, and send work in progress back to open. */
export function unassignLeftUser(
  command: Extract<IssueCommand, { type: 'UnassignLeftUser' }>,
  state: IssueState,
): IssueEvent[] {
  if (!state.exists || state.assigneeId !== command.userId) return [];
  if (state.status === 'resolved' || state.status === 'closed') return [];
  const base = {
    issueId: state.issueId,
    projectId: state.projectId,
    tenantId: state.tenantId,
    at: command.at,
    by: command.by,
  };
  const events: IssueEvent[] = [
    { type: 'IssueUnassigned', data: { ...base, previous: command.userId, reason: 'assignee_left_tenant' } },
  ];
  if (workStatuses.includes(state.status)) {
    events.push({
      type: 'IssueStatusChanged',
      data: {
        ...base,
        from: state.status,
        to: 'open',
        resolution: null,
        duplicateOf: null,
        reason: 'assignee_left_tenant',
      },
    });
  }
  return events;
}
