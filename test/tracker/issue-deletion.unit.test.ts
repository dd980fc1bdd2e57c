import { describe, it } from 'vitest';
import { type IssueEvent, issueDecider, type ProjectContext } from '../../src/commands/tracker/index.ts';
import { specFor } from '../support/decider-spec.ts';
import { actor, at, base, created, type Person, project } from './support.ts';

const spec = specFor(issueDecider);
const as = (who: Person, p: ProjectContext = project()) => ({ actor: actor(who), project: p, at });
const deleted = (by: Person = 'admin'): IssueEvent => ({ type: 'IssueDeleted', data: base(by) });
const restored = (by: Person = 'admin'): IssueEvent => ({ type: 'IssueRestored', data: base(by) });

describe('deleting and restoring an issue (soft)', () => {
  it('lets a tenant admin delete an issue, whatever its project or state', () => {
    spec
      .given([created()])
      .when({ type: 'DeleteIssue', ...as('admin') })
      .thenEvents([deleted()]);
    spec
      .given([created()])
      .when({ type: 'DeleteIssue', ...as('admin', project({ archived: true })) })
      .thenEvents([deleted()]);
  });

  it('refuses a lead, a member and a viewer (rule issue_delete_admins)', () => {
    for (const who of ['lead', 'ann', 'viv'] as const) {
      spec
        .given([created()])
        .when({ type: 'DeleteIssue', ...as(who) })
        .thenFails('FORBIDDEN', 'issue_delete_admins');
      spec
        .given([created(), deleted()])
        .when({ type: 'RestoreIssue', ...as(who) })
        .thenFails('FORBIDDEN', 'issue_delete_admins');
    }
  });

  it('restores a deleted issue; deleting twice or restoring a live issue changes nothing', () => {
    spec
      .given([created(), deleted()])
      .when({ type: 'RestoreIssue', ...as('admin') })
      .thenEvents([restored()]);
    spec
      .given([created(), deleted()])
      .when({ type: 'DeleteIssue', ...as('admin') })
      .thenEvents([]);
    spec
      .given([created()])
      .when({ type: 'RestoreIssue', ...as('admin') })
      .thenEvents([]);
    spec
      .given([])
      .when({ type: 'DeleteIssue', ...as('admin') })
      .thenFails('NOT_FOUND');
  });

  it('treats a deleted issue as absent for every other command, and a restored one as before', () => {
    spec
      .given([created(), deleted()])
      .when({ type: 'EditIssue', changes: { title: 'x' }, ...as('ann') })
      .thenFails('NOT_FOUND');
    spec
      .given([created(), deleted()])
      .when({ type: 'AddComment', commentId: crypto.randomUUID(), body: 'hi', ...as('admin') })
      .thenFails('NOT_FOUND');
    spec
      .given([created(), deleted(), restored()])
      .when({ type: 'EditIssue', changes: { title: 'Back' }, ...as('ann') })
      .thenEvents([{ type: 'IssueEdited', data: { ...base('ann'), changes: { title: 'Back' } } }]);
  });
});
