import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIssue, createProject, numberHints } from '../../src/commands/tracker/index.ts';
import type { EventStore } from '../../src/eventstore/port.ts';
import { postgresEventStore } from '../../src/eventstore/postgres/store.ts';
import type { TestDatabase } from '../support/databases.ts';
import { databaseKinds } from '../support/postgres.ts';
import { at, fields, people, tenantId } from './support.ts';

for (const kind of databaseKinds) {
  describe(`issue numbers (${kind.name})`, () => {
    let test: TestDatabase;
    let store: EventStore;
    beforeAll(async () => {
      test = await kind.fresh();
      store = postgresEventStore(test.database);
    });
    afterAll(async () => {
      await test.dispose();
    });

    const project = async (key: string) => {
      const result = await createProject(
        store,
        {
          tenantId,
          key,
          name: key,
          description: '',
          labels: ['api'],
          leadId: people.lead,
          leadEmail: 'lead@example.com',
          at,
        },
        { metadata: { tenantId } },
      );
      return result.state.projectId;
    };
    const create = (
      projectId: string,
      hints = numberHints(),
      over: Partial<Parameters<typeof createIssue>[1]> = {},
    ) =>
      createIssue(
        store,
        {
          tenantId,
          projectId,
          actor: { userId: people.lead, tenantAdmin: false },
          assigneeId: null,
          fields,
          at,
          ...over,
        },
        { metadata: { tenantId } },
        hints,
      );

    it('numbers 50 parallel creations 1 to 50, each once, with no shared hints between them', async () => {
      const projectId = await project('PAR');
      const results = await Promise.all(Array.from({ length: 50 }, () => create(projectId)));
      const numbers = results.map((r) => r.state.number).sort((a, b) => a - b);
      expect(numbers).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(new Set(results.map((r) => r.state.key)).size).toBe(50);
      expect(results.every((r) => r.state.key === `PAR-${r.state.number}`)).toBe(true);
    });

    it('leaves no gap when a creation is refused, and starts after a number known to be taken', async () => {
      const projectId = await project('GAP');
      const hints = numberHints();
      expect((await create(projectId, hints)).state.number).toBe(1);
      await expect(
        create(projectId, hints, { fields: { ...fields, labels: ['unknown'] } }),
      ).rejects.toMatchObject({
        code: 'INVALID',
      });
      expect((await create(projectId, hints)).state.number).toBe(2);
      // A fresh process (no hints) with a stale read-model figure still finds the next free number.
      expect((await create(projectId, numberHints(), { knownTaken: 1 })).state.number).toBe(3);
    });

    it('numbers per project: two projects each start at 1', async () => {
      const [a, b] = await Promise.all([project('ONE'), project('TWO')]);
      const results = await Promise.all([create(a), create(b), create(a), create(b)]);
      expect(results.map((r) => r.state.key).sort()).toEqual(['ONE-1', 'ONE-2', 'TWO-1', 'TWO-2']);
    });
  });
}
