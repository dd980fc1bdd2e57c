import { describe, expect, it } from 'vitest';
import type { AppendResult } from '../../src/eventstore/port.ts';
import { GroupCommit } from '../../src/eventstore/postgres/group-commit.ts';
import type { ValidAppend } from '../../src/eventstore/validate.ts';

// The grouping logic alone, over two in-memory statements that record what they were sent and answer
// when the test lets them (the store's real statements are in group-commit.int.test.ts).
const append = (stream: string, events = 1): ValidAppend => ({
  streamId: stream,
  expected: 'any',
  events: Array.from({ length: events }, (_, i) => ({
    id: `${stream}-${i}`,
    type: 'Noted',
    data: '{}',
    metadata: '{}',
    tenantId: null,
  })),
});

function statements(options = { lanes: 1, maxAppends: 64, maxEvents: 2000 }) {
  const sent: { kind: 'one' | 'many'; streams: string[]; release: () => void }[] = [];
  let nextPosition = 0n;
  const failing = new Set<string>();
  const answer = (a: ValidAppend): AppendResult => {
    if (failing.has(a.streamId)) throw new Error(`refused ${a.streamId}`);
    nextPosition += BigInt(a.events.length);
    return { revision: a.events.length - 1, position: nextPosition };
  };
  const held = () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    return { gate, release };
  };
  const group = new GroupCommit(
    async (a) => {
      const { gate, release } = held();
      sent.push({ kind: 'one', streams: [a.streamId], release });
      await gate;
      return answer(a);
    },
    async (appends) => {
      const { gate, release } = held();
      sent.push({ kind: 'many', streams: appends.map((a) => a.streamId), release });
      await gate;
      // One transaction: all or nothing.
      if (appends.some((a) => failing.has(a.streamId))) throw new Error('the group failed');
      return appends.map(answer);
    },
    options,
  );
  const flush = () => new Promise((resolve) => setTimeout(resolve, 0));
  return { group, sent, failing, flush };
}

describe('group commit', () => {
  it('sends an append at once, alone, when a lane is free', async () => {
    const { group, sent, flush } = statements();
    const done = group.append(append('a'));
    await flush();
    expect(sent.map((s) => [s.kind, s.streams])).toEqual([['one', ['a']]]);
    sent[0]!.release();
    expect(await done).toEqual({ revision: 0, position: 1n });
  });

  it('holds what arrives while every lane is busy and sends it together, each caller getting its own answer', async () => {
    const { group, sent, flush } = statements();
    const first = group.append(append('a'));
    const rest = ['b', 'c', 'd'].map((s, i) => group.append(append(s, i + 1)));
    await flush();
    expect(sent).toHaveLength(1);
    sent[0]!.release();
    await flush();
    expect(sent.map((s) => [s.kind, s.streams])).toEqual([
      ['one', ['a']],
      ['many', ['b', 'c', 'd']],
    ]);
    sent[1]!.release();
    expect(await first).toEqual({ revision: 0, position: 1n });
    expect(await Promise.all(rest)).toEqual([
      { revision: 0, position: 2n },
      { revision: 1, position: 4n },
      { revision: 2, position: 7n },
    ]);
  });

  it('keeps as many statements in flight as it has lanes', async () => {
    const { group, sent, flush } = statements({ lanes: 2, maxAppends: 64, maxEvents: 2000 });
    const all = ['a', 'b', 'c', 'd', 'e'].map((s) => group.append(append(s)));
    await flush();
    expect(sent.map((s) => s.streams)).toEqual([['a'], ['b']]);
    sent[0]!.release();
    await flush();
    expect(sent.map((s) => s.streams)).toEqual([['a'], ['b'], ['c', 'd', 'e']]);
    for (const s of sent) s.release();
    await Promise.all(all);
  });

  it('splits a queue at the most appends and the most events a statement may carry', async () => {
    const { group, sent, flush } = statements({ lanes: 1, maxAppends: 3, maxEvents: 5 });
    const all = [
      group.append(append('a')),
      ...['b', 'c', 'd', 'e'].map((s) => group.append(append(s))),
      group.append(append('f', 4)),
      group.append(append('g', 9)),
    ];
    for (let i = 0; i < 4; i++) {
      await flush();
      sent[i]!.release();
    }
    await Promise.all(all);
    // b–d: three appends; e and f: 5 events; g alone although it holds more than the most events.
    expect(sent.map((s) => s.streams)).toEqual([['a'], ['b', 'c', 'd'], ['e', 'f'], ['g']]);
  });

  it('when a group fails, sends each of its appends again alone: the good succeed, the bad fails alone', async () => {
    const { group, sent, failing, flush } = statements();
    failing.add('bad');
    const first = group.append(append('a'));
    const good = group.append(append('good'));
    const bad = group.append(append('bad'));
    const alsoGood = group.append(append('also-good'));
    await flush();
    sent[0]!.release();
    await flush();
    sent[1]!.release();
    await flush();
    await flush();
    expect(sent.slice(2).map((s) => [s.kind, s.streams])).toEqual([
      ['one', ['good']],
      ['one', ['bad']],
      ['one', ['also-good']],
    ]);
    for (const s of sent.slice(2)) s.release();
    await first;
    await expect(good).resolves.toMatchObject({ revision: 0 });
    await expect(bad).rejects.toThrow('refused bad');
    await expect(alsoGood).resolves.toMatchObject({ revision: 0 });
  });
});
