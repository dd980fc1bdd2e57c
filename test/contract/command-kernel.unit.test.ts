import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  aggregate,
  type CommandStore,
  type Decider,
  DomainError,
  existsInTenant,
  handle,
  handleNew,
  isWrongExpectedRevision,
  load,
  type NewEvent,
  record,
  type StoredEvent,
  validated,
} from '../../src/commands/kernel/index.ts';
import { WrongExpectedRevisionError } from '../../src/eventstore/port.ts';

/** An in-memory store with the kernel's narrow port and the real store's conflict. */
function memoryStore(): CommandStore & { streams: Map<string, StoredEvent[]> } {
  const streams = new Map<string, StoredEvent[]>();
  let position = 0n;
  return {
    streams,
    async readStream(streamId, options = {}) {
      const events = streams.get(streamId) ?? [];
      return events.slice(options.from ?? 0, (options.from ?? 0) + (options.limit ?? events.length));
    },
    async append(streamId, events: readonly NewEvent[], options = {}) {
      const stream = streams.get(streamId) ?? [];
      const actual = stream.length - 1;
      const expected = options.expected ?? 'any';
      const ok =
        expected === 'any' ||
        (expected === 'no_stream' && actual < 0) ||
        (expected === 'exists' && actual >= 0) ||
        expected === actual;
      if (!ok) throw new WrongExpectedRevisionError(streamId, expected, actual < 0 ? 'no_stream' : actual);
      for (const e of events) {
        stream.push({
          ...e,
          metadata: e.metadata ?? {},
          streamId,
          revision: stream.length,
          position: ++position,
          recordedAt: new Date(0),
        });
      }
      streams.set(streamId, stream);
      return { revision: stream.length - 1, position };
    },
  };
}

type NoteEvent = { type: 'NoteWritten'; data: { noteId: string; tenantId: string; text: string } };
type NoteCommand = { type: 'WriteNote'; noteId: string; tenantId: string; text: string };
type NoteState = { exists: boolean; tenantId: string; text: string };

const schemas = {
  NoteWritten: z.object({ noteId: z.string(), tenantId: z.string(), text: z.string().trim().min(1) }),
};
const noteDecider = validated<NoteCommand, NoteEvent, NoteState>(
  {
    initialState: () => ({ exists: false, tenantId: '', text: '' }),
    decide: ({ type: _, ...data }) => [{ type: 'NoteWritten', data }],
    evolve: (_state, event) => ({ exists: true, tenantId: event.data.tenantId, text: event.data.text }),
  },
  schemas,
);
const notes = aggregate({
  decider: noteDecider,
  streamId: (id) => `test.Note-${id}`,
  what: 'note',
  visibleTo: existsInTenant,
});
const write = (tenantId: string, text: string): NoteCommand => ({
  type: 'WriteNote',
  noteId: 'n1',
  tenantId,
  text,
});
const context = { metadata: { actorId: 'test' } };

describe('command kernel', () => {
  it('validates decided events once, in the decider: normalised data, INVALID otherwise', () => {
    const [event] = noteDecider.decide(write('t1', '  hello  '), noteDecider.initialState());
    expect(event?.data.text).toBe('hello');
    expect(() => noteDecider.decide(write('t1', '   '), noteDecider.initialState())).toThrow(DomainError);
  });

  it('finds an entity only for its own tenant, and changes another tenant’s as NOT_FOUND, appending nothing', async () => {
    const store = memoryStore();
    await notes.create(store, 'n1', write('t1', 'first'), context);
    expect((await notes.find(store, 't1', 'n1'))?.state.text).toBe('first');
    expect(await notes.find(store, 't2', 'n1')).toBeUndefined();
    await expect(notes.change(store, 't2', 'n1', write('t2', 'x'), context)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(store.streams.get('test.Note-n1')).toHaveLength(1);
    const changed = await notes.change(store, 't1', 'n1', write('t1', 'second'), context);
    expect(changed.revision).toBe(1);
  });

  it('handleNew claims a stream that does not exist, and answers undefined when it does', async () => {
    const store = memoryStore();
    const first = await handleNew(store, 'test.Note-n1', noteDecider, write('t1', 'a'), context);
    expect(first?.revision).toBe(0);
    expect(await handleNew(store, 'test.Note-n1', noteDecider, write('t1', 'b'), context)).toBeUndefined();
    expect(store.streams.get('test.Note-n1')).toHaveLength(1);
  });

  it('handleNew takes the caller’s event ids', async () => {
    const store = memoryStore();
    const id = '00000000-0000-4000-8000-000000000001';
    await handleNew(store, 'test.Note-n1', noteDecider, write('t1', 'a'), { ...context, eventIds: [id] });
    expect(store.streams.get('test.Note-n1')?.[0]?.id).toBe(id);
  });

  it('record validates an audit-only event against its schema and appends it whatever the revision', async () => {
    const store = memoryStore();
    const event = { type: 'NoteWritten', data: { noteId: 'n1', tenantId: 't1', text: ' x ', extra: 1 } };
    await record(store, 'test.Audit', event, schemas, context);
    await record(store, 'test.Audit', event, schemas, context);
    const stored = store.streams.get('test.Audit')!;
    expect(stored.map((e) => e.data)).toEqual([
      { noteId: 'n1', tenantId: 't1', text: 'x' },
      { noteId: 'n1', tenantId: 't1', text: 'x' },
    ]);
    await expect(
      record(store, 'test.Audit', { type: 'NoteWritten', data: { noteId: 'n1' } }, schemas, context),
    ).rejects.toMatchObject({ code: 'INVALID' });
    await expect(
      record(store, 'test.Audit', { type: 'Unknown', data: {} }, schemas, context),
    ).rejects.toMatchObject({
      code: 'INVALID',
    });
    expect(store.streams.get('test.Audit')).toHaveLength(2);
  });

  it('a decider with snapshots folds only the events after the state its store last loaded or appended', async () => {
    type Added = { type: 'Added'; data: { text: string } };
    const texts = (snapshots: boolean): Decider<{ type: 'Add'; text: string }, Added, string[]> => ({
      initialState: () => [],
      decide: (command) => [{ type: 'Added', data: { text: command.text } }],
      evolve: (state, event) => [...state, event.data.text],
      ...(snapshots ? { snapshots: true } : {}),
    });
    const kept = texts(true);
    const plain = texts(false);
    const memory = memoryStore();
    const reads: number[] = [];
    const store: CommandStore = {
      ...memory,
      readStream: (streamId, options) => {
        reads.push(options?.from ?? 0);
        return memory.readStream(streamId, options);
      },
    };
    const add = (via: CommandStore, text: string) =>
      handle(via, 'test.Texts-1', kept, { type: 'Add', text }, context);
    await add(store, 'a');
    await add(store, 'b');
    // Another process (another store object over the same log) appends meanwhile.
    await add(memory, 'c');
    reads.length = 0;
    const loaded = await load(store, 'test.Texts-1', kept);
    expect(loaded).toMatchObject({ state: ['a', 'b', 'c'], revision: 2 });
    // From the state its own last command appended (revision 1): revision 2 read, not the stream.
    expect(reads).toEqual([2]);
    expect(loaded.events.map((e) => e.revision)).toEqual([2]);
    reads.length = 0;
    expect((await load(store, 'test.Texts-1', kept)).state).toEqual(['a', 'b', 'c']);
    expect(reads).toEqual([3]);
    // Without the flag, or for another decider over the same stream, the whole stream is read.
    reads.length = 0;
    expect((await load(store, 'test.Texts-1', plain)).state).toEqual(['a', 'b', 'c']);
    expect((await load(store, 'test.Texts-1', texts(true))).state).toEqual(['a', 'b', 'c']);
    expect(reads).toEqual([0, 0]);
    // A command decides on the whole state and appends at the right revision.
    const result = await add(store, 'd');
    expect(result).toMatchObject({ state: ['a', 'b', 'c', 'd'], revision: 3 });
    // A store keeps the newest 1,000 streams' states: loading 1,000 others lets the first one go.
    for (let i = 0; i < 1000; i++) {
      await memory.append(`test.Other-${i}`, [{ id: `o${i}`, type: 'Added', data: { text: 'x' } }]);
      await load(store, `test.Other-${i}`, kept);
    }
    reads.length = 0;
    expect((await load(store, 'test.Texts-1', kept)).state).toEqual(['a', 'b', 'c', 'd']);
    expect(reads).toEqual([0]);
  });

  it('recognises the store’s conflict by its stable code, not its class', () => {
    expect(isWrongExpectedRevision(new WrongExpectedRevisionError('s', 'no_stream', 0))).toBe(true);
    expect(isWrongExpectedRevision({ code: 'ERR_WRONG_EXPECTED_REVISION', actual: 3 })).toBe(true);
    expect(isWrongExpectedRevision(new Error('ERR_WRONG_EXPECTED_REVISION'))).toBe(false);
    expect(isWrongExpectedRevision(undefined)).toBe(false);
  });
});
