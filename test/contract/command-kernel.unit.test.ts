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

  describe('a command on a decider with snapshots decides on the kept state first', () => {
    type DoorEvent = { type: 'Opened' | 'Closed' | 'Knocked'; data: Record<string, never> };
    type DoorCommand = { type: 'Open' | 'Close' | 'Knock' };
    /** A door: opening or closing it twice does nothing; knocking on an open door is refused. */
    const door: Decider<DoorCommand, DoorEvent, { open: boolean; knocks: number }> = {
      initialState: () => ({ open: false, knocks: 0 }),
      decide: (command, state) => {
        if (command.type === 'Knock') {
          if (state.open) throw new DomainError('CONFLICT', 'the door is open');
          return [{ type: 'Knocked', data: {} }];
        }
        const open = command.type === 'Open';
        return state.open === open ? [] : [{ type: open ? 'Opened' : 'Closed', data: {} }];
      },
      evolve: (state, event) =>
        event.type === 'Knocked'
          ? { ...state, knocks: state.knocks + 1 }
          : { ...state, open: event.type === 'Opened' },
      snapshots: true,
    };
    const stream = 'test.Door-1';
    /** Two processes over one log: `here` counts its reads; `elsewhere` is another store object. */
    function stores() {
      const elsewhere = memoryStore();
      const reads: number[] = [];
      const here: CommandStore = {
        ...elsewhere,
        readStream: (streamId, options) => {
          reads.push(options?.from ?? 0);
          return elsewhere.readStream(streamId, options);
        },
      };
      const run = (via: CommandStore, type: DoorCommand['type'], extra: object = {}) =>
        handle(via, stream, door, { type }, { ...context, ...extra });
      return { here, elsewhere, reads, run };
    }

    it('appends without reading the stream when nothing was appended since', async () => {
      const { here, reads, run } = stores();
      await run(here, 'Open');
      reads.length = 0;
      expect(await run(here, 'Close')).toMatchObject({ revision: 1, state: { open: false } });
      expect(await run(here, 'Knock')).toMatchObject({ revision: 2, state: { knocks: 1 } });
      expect(reads).toEqual([]);
    });

    it('a stream moved on elsewhere is a conflict: read, decided again, and no attempt used up', async () => {
      const { here, elsewhere, reads, run } = stores();
      await run(here, 'Close'); // nothing: the door starts closed (read: the stream does not exist)
      await run(here, 'Knock');
      await run(elsewhere, 'Open');
      await run(elsewhere, 'Close');
      reads.length = 0;
      // One attempt allowed: the kept state's try is not one of them.
      const knocked = await run(here, 'Knock', { maxAttempts: 1 });
      expect(knocked).toMatchObject({ revision: 3, state: { open: false, knocks: 2 } });
      expect(reads).toEqual([1]);
      expect(elsewhere.streams.get(stream)?.map((e) => e.type)).toEqual([
        'Knocked',
        'Opened',
        'Closed',
        'Knocked',
      ]);
    });

    it('decides nothing, or refuses, only on the stream as it is', async () => {
      const { here, elsewhere, reads, run } = stores();
      await run(here, 'Open');
      await run(elsewhere, 'Close');
      // Kept: open, so Open would do nothing and Knock would be refused; the stream says closed.
      reads.length = 0;
      expect(await run(here, 'Knock')).toMatchObject({ revision: 2, events: [{ type: 'Knocked' }] });
      expect(reads).toEqual([1]);
      await run(elsewhere, 'Open');
      await run(here, 'Close');
      await run(elsewhere, 'Open');
      // Kept: closed; Close is nothing there, but the door was opened elsewhere: it is closed now.
      expect(await run(here, 'Close')).toMatchObject({ revision: 6, events: [{ type: 'Closed' }] });
    });

    it('If-Match: the kept revision is used only when the caller names it, and a moved stream is 412', async () => {
      const { here, elsewhere, reads, run } = stores();
      await run(here, 'Open');
      await run(elsewhere, 'Close');
      // The caller saw revision 0 (what is kept here: open, so Close decides), but the door is at 1:
      // the append from the kept state conflicts, and that is the caller's 412, nothing appended.
      reads.length = 0;
      await expect(run(here, 'Close', { expectedRevision: 0 })).rejects.toMatchObject({
        code: 'PRECONDITION_FAILED',
        detail: { actualRevision: 1 },
      });
      expect(reads).toEqual([]);
      expect(elsewhere.streams.get(stream)).toHaveLength(2);
      // The caller saw revision 1 (newer than kept here): the stream is read, and the command lands.
      await run(elsewhere, 'Knock');
      reads.length = 0;
      await run(here, 'Open'); // read: kept state (revision 1) is stale, the door is closed
      expect(await run(here, 'Close', { expectedRevision: 3 })).toMatchObject({ revision: 4 });
    });
  });

  it('recognises the store’s conflict by its stable code, not its class', () => {
    expect(isWrongExpectedRevision(new WrongExpectedRevisionError('s', 'no_stream', 0))).toBe(true);
    expect(isWrongExpectedRevision({ code: 'ERR_WRONG_EXPECTED_REVISION', actual: 3 })).toBe(true);
    expect(isWrongExpectedRevision(new Error('ERR_WRONG_EXPECTED_REVISION'))).toBe(false);
    expect(isWrongExpectedRevision(undefined)).toBe(false);
  });
});
