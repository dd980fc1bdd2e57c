import type { Decider } from '../kernel/index.ts';
import { conflict, notFound, ruleViolated, validated } from '../kernel/index.ts';
import { type Actor, refused } from './access.ts';
import { type ProjectEvent, type ProjectRole, trackerEventSchemas } from './events.ts';

export interface ProjectState {
  exists: boolean;
  projectId: string;
  tenantId: string;
  key: string;
  name: string;
  description: string;
  labels: string[];
  archived: boolean;
  members: Record<string, { role: ProjectRole; email: string }>;
  createdAt: string;
  updatedAt: string;
}

export type ProjectCommand =
  | {
      type: 'CreateProject';
      projectId: string;
      tenantId: string;
      key: string;
      name: string;
      description: string;
      labels: string[];
      /** The creator, who becomes the project's lead. */
      leadId: string;
      leadEmail: string;
      at: string;
    }
  | { type: 'RenameProject'; name: string; actor: Actor; at: string }
  | { type: 'DescribeProject'; description: string; actor: Actor; at: string }
  | { type: 'ChangeLabels'; labels: string[]; actor: Actor; at: string }
  /**
   * Rename, describe and relabel in one decision (a PATCH naming several): all of its events are
   * appended together or none is, so a refusal of one part leaves no other part applied.
   */
  | {
      type: 'EditProject';
      name?: string | undefined;
      description?: string | undefined;
      labels?: string[] | undefined;
      actor: Actor;
      at: string;
    }
  | { type: 'ArchiveProject'; actor: Actor; at: string }
  | { type: 'SetMember'; userId: string; email: string; role: ProjectRole; actor: Actor; at: string }
  | { type: 'RemoveMember'; userId: string; actor: Actor; at: string }
  /**
   * A process's consequence of the user leaving the tenant (removed, rejected): no actor check, no
   * last-lead rule (a project may be left without a lead; tenant admins still manage it), also in an
   * archived project, and nothing when they are no member (so a repeat appends nothing).
   */
  | { type: 'RemoveLeftMember'; userId: string; by: string; at: string };

const initialState = (): ProjectState => ({
  exists: false,
  projectId: '',
  tenantId: '',
  key: '',
  name: '',
  description: '',
  labels: [],
  archived: false,
  members: {},
  createdAt: '',
  updatedAt: '',
});

const leads = (state: ProjectState) => Object.values(state.members).filter((m) => m.role === 'lead').length;

function decide(command: ProjectCommand, state: ProjectState): ProjectEvent[] {
  if (command.type === 'CreateProject') {
    if (state.exists) throw conflict(`a project with the key ${state.key} already exists in this tenant`);
    const { type: _, ...data } = command;
    return [{ type: 'ProjectCreated', data: { ...data, labels: [...new Set(data.labels)] } }];
  }
  if (command.type === 'RemoveLeftMember') {
    if (!state.exists || !state.members[command.userId]) return [];
    const { projectId, tenantId } = state;
    return [
      {
        type: 'ProjectMemberRemoved',
        data: {
          projectId,
          tenantId,
          userId: command.userId,
          reason: 'member_left_tenant',
          at: command.at,
          by: command.by,
        },
      },
    ];
  }
  if (!state.exists) throw notFound('project');
  // Rule `project_management`: settings and members belong to the project's lead or a tenant admin.
  const { actor } = command;
  if (!actor.tenantAdmin && state.members[actor.userId]?.role !== 'lead') {
    throw refused('project_management', 'only the project lead or a tenant admin manages the project');
  }
  if (state.archived) throw ruleViolated('project_archived', 'the project is archived: it changes no more');
  const base = { projectId: state.projectId, tenantId: state.tenantId, at: command.at, by: actor.userId };
  switch (command.type) {
    case 'RenameProject':
      return command.name === state.name
        ? []
        : [{ type: 'ProjectRenamed', data: { ...base, name: command.name } }];
    case 'DescribeProject':
      return command.description === state.description
        ? []
        : [{ type: 'ProjectDescribed', data: { ...base, description: command.description } }];
    case 'ChangeLabels': {
      const labels = [...new Set(command.labels)];
      const same = labels.length === state.labels.length && labels.every((l) => state.labels.includes(l));
      return same ? [] : [{ type: 'ProjectLabelsChanged', data: { ...base, labels } }];
    }
    case 'EditProject': {
      const { name, description, labels, actor: by, at } = command;
      return [
        ...(name === undefined ? [] : decide({ type: 'RenameProject', name, actor: by, at }, state)),
        ...(description === undefined
          ? []
          : decide({ type: 'DescribeProject', description, actor: by, at }, state)),
        ...(labels === undefined ? [] : decide({ type: 'ChangeLabels', labels, actor: by, at }, state)),
      ];
    }
    case 'ArchiveProject':
      return [{ type: 'ProjectArchived', data: base }];
    case 'SetMember': {
      const current = state.members[command.userId];
      if (!current) {
        return [
          {
            type: 'ProjectMemberAdded',
            data: { ...base, userId: command.userId, email: command.email, role: command.role },
          },
        ];
      }
      if (current.role === command.role) return [];
      if (current.role === 'lead' && leads(state) === 1) {
        throw ruleViolated(
          'project_needs_lead',
          'the project’s last lead cannot step down: name another lead first',
        );
      }
      return [
        {
          type: 'ProjectMemberRoleChanged',
          data: { ...base, userId: command.userId, from: current.role, to: command.role },
        },
      ];
    }
    case 'RemoveMember': {
      const current = state.members[command.userId];
      if (!current) throw notFound('project member');
      if (current.role === 'lead' && leads(state) === 1) {
        throw ruleViolated(
          'project_needs_lead',
          'the project’s last lead cannot leave: name another lead first',
        );
      }
      return [{ type: 'ProjectMemberRemoved', data: { ...base, userId: command.userId, reason: 'manual' } }];
    }
  }
}

function evolve(state: ProjectState, event: ProjectEvent): ProjectState {
  switch (event.type) {
    case 'ProjectCreated': {
      const d = event.data;
      return {
        exists: true,
        projectId: d.projectId,
        tenantId: d.tenantId,
        key: d.key,
        name: d.name,
        description: d.description,
        labels: d.labels,
        archived: false,
        members: { [d.leadId]: { role: 'lead', email: d.leadEmail } },
        createdAt: d.at,
        updatedAt: d.at,
      };
    }
    case 'ProjectRenamed':
      return { ...state, name: event.data.name, updatedAt: event.data.at };
    case 'ProjectDescribed':
      return { ...state, description: event.data.description, updatedAt: event.data.at };
    case 'ProjectLabelsChanged':
      return { ...state, labels: event.data.labels, updatedAt: event.data.at };
    case 'ProjectArchived':
      return { ...state, archived: true, updatedAt: event.data.at };
    case 'ProjectMemberAdded':
      return {
        ...state,
        members: {
          ...state.members,
          [event.data.userId]: { role: event.data.role, email: event.data.email },
        },
        updatedAt: event.data.at,
      };
    case 'ProjectMemberRoleChanged': {
      const member = state.members[event.data.userId];
      if (!member) return state;
      return {
        ...state,
        members: { ...state.members, [event.data.userId]: { ...member, role: event.data.to } },
        updatedAt: event.data.at,
      };
    }
    case 'ProjectMemberRemoved': {
      const { [event.data.userId]: _, ...members } = state.members;
      return { ...state, members, updatedAt: event.data.at };
    }
    default:
      return state;
  }
}

/** A project: key, name, labels, members with their project roles. Its id derives from (tenant, key). */
export const projectDecider: Decider<ProjectCommand, ProjectEvent, ProjectState> = validated(
  { initialState, decide, evolve },
  trackerEventSchemas,
);
