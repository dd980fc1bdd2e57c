import { DomainError, type FieldError } from '../kernel/index.ts';
import type { ProjectRole } from './events.ts';

/** Who issues a tracker command, as the handler found them: a user id (or `process:<name>`) and whether they administer the tenant. */
export interface Actor {
  userId: string;
  /** Tenant role owner or admin, or the platform superadmin. */
  tenantAdmin: boolean;
}

/** What an issue command needs to know of its project, read by the handler from the project's stream. */
export interface ProjectContext {
  projectId: string;
  archived: boolean;
  labels: readonly string[];
  members: Readonly<Record<string, { role: ProjectRole; email: string }>>;
}

/** A refusal by role: 403 naming the rule. */
export const refused = (rule: string, message: string) => new DomainError('FORBIDDEN', message, { rule });
/** Bad input that a rule catches (unknown label, assignee not a member): 422 naming the field and the rule. */
export const invalidBy = (rule: string, errors: FieldError[]) =>
  new DomainError('INVALID', errors.map((e) => `${e.path}: ${e.message}`).join('; '), { rule, errors });

export const roleIn = (project: ProjectContext, userId: string): ProjectRole | null =>
  project.members[userId]?.role ?? null;

/**
 * Rule `viewers_read_only` / `members_only`: changing anything in a project takes a project role of
 * lead or member, or a tenant admin.
 */
export function requireWriter(project: ProjectContext, actor: Actor): void {
  if (actor.tenantAdmin) return;
  const role = roleIn(project, actor.userId);
  if (role === 'viewer') throw refused('viewers_read_only', 'project viewers cannot change anything');
  if (role === null) {
    throw refused('members_only', 'only members of the project (lead or member) change its issues');
  }
}
