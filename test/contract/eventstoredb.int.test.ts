import { randomUUID } from 'node:crypto';
import { KurrentDBClient } from '@kurrent/kurrentdb-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventStoreDbEventStore, runCompetingConsumer } from '../../src/eventstore/kurrentdb/index.ts';
import { normaliseConnectionString } from '../../src/eventstore/kurrentdb/mapping.ts';
import type { EventStore, RecordedEvent } from '../../src/eventstore/port.ts';
import { eventStoreContract, waitFor } from './eventstore.contract.ts';

// EventStoreDB/KurrentDB cannot run on the CI machine (no Docker, no network), and a stand-in server
// would prove nothing: this suite runs only against a real server named by EVENTSTORE_URL, e.g.
// EVENTSTORE_URL='esdb://127.0.0.1:2113?tls=false' (see the README for the docker command).
const url = process.env.EVENTSTORE_URL;

describe.runIf(Boolean(url))('eventstoredb', () => {
  eventStoreContract('eventstoredb', async () => {
    const opened: EventStore[] = [];
    const open = () => {
      const store = eventStoreDbEventStore(url!);
      opened.push(store);
      return store;
    };
    return {
      store: open(),
      reopen: async () => open(),
      dispose: async () => {
        await Promise.all(opened.map((store) => store.close()));
      },
    };
  });

  describe('competing consumers over a persistent subscription', () => {
    let client: KurrentDBClient;
    let store: EventStore;
    beforeAll(() => {
      client = KurrentDBClient.connectionString(normaliseConnectionString(url!));
      store = eventStoreDbEventStore(client);
    });
    afterAll(async () => {
      await store.close();
      await client.dispose();
    });

    const event = (type: string, n: number) => ({ id: randomUUID(), type, data: { n } });

    it('two consumers in one group share the events and handle each once', async () => {
      const type = `Shared${randomUUID().replaceAll('-', '')}`;
      const group = `test-${randomUUID()}`;
      const handled: { consumer: string; event: RecordedEvent }[] = [];
      const controllers = [new AbortController(), new AbortController()];
      const running = controllers.map((controller, i) =>
        runCompetingConsumer(client, {
          group,
          source: { kind: 'all', types: [type] },
          startFrom: 'start',
          signal: controller.signal,
          handle: async (e) => {
            handled.push({ consumer: `c${i}`, event: e });
          },
        }),
      );
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        const e = event(type, i);
        ids.push(e.id);
        await store.append(`test.Shared-${randomUUID()}`, [e]);
      }
      await waitFor(() => handled.length >= ids.length, 30_000);
      for (const controller of controllers) controller.abort();
      await Promise.all(running);
      expect(handled.map((h) => h.event.id).sort()).toEqual([...ids].sort());
      await client.deletePersistentSubscriptionToAll(group);
    });

    it('a failing event is retried, then parked, and the others are still handled', async () => {
      const type = `Flaky${randomUUID().replaceAll('-', '')}`;
      const group = `test-${randomUUID()}`;
      const poison = event(type, 0);
      const good = event(type, 1);
      const attempts: number[] = [];
      const done: string[] = [];
      const controller = new AbortController();
      const running = runCompetingConsumer(client, {
        group,
        source: { kind: 'all', types: [type] },
        startFrom: 'start',
        maxRetries: 2,
        signal: controller.signal,
        handle: async (e, delivery) => {
          if (e.id === poison.id) {
            attempts.push(delivery.retryCount);
            throw new Error('cannot handle this one');
          }
          done.push(e.id);
        },
      });
      await store.append(`test.Flaky-${randomUUID()}`, [poison, good]);
      await waitFor(() => attempts.length >= 3 && done.length === 1, 30_000);
      controller.abort();
      await running;
      expect(attempts).toEqual([0, 1, 2]);
      expect(done).toEqual([good.id]);
      await client.deletePersistentSubscriptionToAll(group);
    });
  });
});
