import type { AppendOptions, EventStore, NewEvent, RecordedEvent, SubscribeOptions } from './port.ts';

/**
 * Turns the `data` of one event type from schema version `from` into version `from + 1`. Pure: no
 * I/O, no clock; what the old version lacked comes from the event itself (its data, metadata or
 * recorded time). Stored events are never rewritten: upcasters run on every read.
 */
export interface Upcaster {
  type: string;
  from: number;
  upcast(data: unknown, event: Readonly<RecordedEvent>): unknown;
}

/** The schema versions of event types and the upcasters between them. */
export interface UpcasterRegistry {
  /** The version new events of `type` are written with (1 for a type without upcasters). */
  currentVersion(type: string): number;
  /** `event` as the current version of its type (the same object when it already is). */
  upcast(event: RecordedEvent): RecordedEvent;
  /** Changes whenever an upcaster is added or its code changes (caches of folded state key on it). */
  readonly fingerprint: string;
}

/**
 * Builds a registry from a list of upcasters. For each type the chain must be complete (1→2, 2→3, …):
 * a gap or a duplicate is a programming error, refused at start-up rather than on some old event.
 */
export function upcasterRegistry(upcasters: readonly Upcaster[]): UpcasterRegistry {
  const chains = new Map<string, Upcaster[]>();
  for (const upcaster of upcasters) {
    if (!Number.isSafeInteger(upcaster.from) || upcaster.from < 1) {
      throw new Error(`upcaster of ${upcaster.type}: "from" must be a version ≥ 1`);
    }
    const chain = chains.get(upcaster.type) ?? [];
    chain.push(upcaster);
    chains.set(upcaster.type, chain);
  }
  for (const [type, chain] of chains) {
    chain.sort((a, b) => a.from - b.from);
    chain.forEach((upcaster, i) => {
      if (upcaster.from !== i + 1) {
        throw new Error(
          `upcasters of ${type} must go 1→2→3… without gaps or repeats (found from ${upcaster.from})`,
        );
      }
    });
  }
  return {
    fingerprint: upcasters
      .map((u) => `${u.type}@${u.from}:${u.upcast.toString()}`)
      .sort()
      .join('\n'),
    currentVersion: (type) => (chains.get(type)?.length ?? 0) + 1,
    upcast(event) {
      const chain = chains.get(event.type);
      if (!chain) return event;
      const stored = event.metadata.schemaVersion ?? 1;
      const current = chain.length + 1;
      if (stored >= current) return event;
      let data = event.data;
      for (const upcaster of chain.slice(stored - 1)) data = upcaster.upcast(data, event);
      return { ...event, data, metadata: { ...event.metadata, schemaVersion: current } };
    },
  };
}

/**
 * The event store seen through a registry: every read (aggregate loads, projections, replay,
 * subscriptions) returns events upcast to their current version, and every append is stamped with
 * the current schema version of its type, so a later upcaster knows where the event started.
 */
export function upcastingStore(store: EventStore, registry: UpcasterRegistry): EventStore {
  const up = (events: RecordedEvent[]) => events.map(registry.upcast);
  // Not `{ ...event, metadata: { ...event.metadata, schemaVersion } }`: Node 20's V8 copies a spread
  // followed by more properties on a slow path, and this runs for every event appended.
  const stamp = (event: NewEvent): NewEvent => ({
    id: event.id,
    type: event.type,
    data: event.data,
    metadata: Object.assign({}, event.metadata, { schemaVersion: registry.currentVersion(event.type) }),
  });
  return {
    name: store.name,
    append: (streamId: string, events: readonly NewEvent[], options?: AppendOptions) =>
      store.append(streamId, events.map(stamp), options),
    readStream: async (streamId, options) => up(await store.readStream(streamId, options)),
    readAll: async (options) => up(await store.readAll(options)),
    subscribe: (options?: SubscribeOptions) => upcastEach(store.subscribe(options), registry),
    headPosition: () => store.headPosition(),
    countAfter: (position) => store.countAfter(position),
    readPositions: (options) => store.readPositions(options),
    onAppend: (listener) => store.onAppend(listener),
    close: () => store.close(),
  };
}

async function* upcastEach(
  events: AsyncIterable<RecordedEvent>,
  registry: UpcasterRegistry,
): AsyncIterable<RecordedEvent> {
  for await (const event of events) yield registry.upcast(event);
}
