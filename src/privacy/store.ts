import { LRUCache } from 'lru-cache';
import { ERASED } from '../commands/identity/index.ts';
import { type PersonalFields, personalFields } from '../commands/registry/index.ts';
import type {
  AppendOptions,
  EventStore,
  NewEvent,
  RecordedEvent,
  SubscribeOptions,
} from '../eventstore/port.ts';
import { open, seal } from '../identity/index.ts';
import type { DataKey, PersonalDataKeys } from './keys.ts';
import { hasClearOrigin, sealOrigin } from './origin.ts';
import { isSealed, type SealedValue } from './sealed.ts';

/** How long an actor's key for sealing request origins is kept in memory. */
const ORIGIN_KEY_TTL_MS = 60_000;

// Bound as associated data: a ciphertext moved to another event or field does not open.
const context = (eventId: string, field: string) => `warden personal ${eventId} ${field}`;

type Data = Record<string, unknown>;

async function openField(key: CryptoKey, value: SealedValue, event: RecordedEvent, field: string) {
  try {
    return await open(key, value.$personal.sealed, context(event.id, field));
  } catch {
    throw new Error(`event ${event.id} (${event.type}): personal field "${field}" does not open (altered?)`);
  }
}
const asData = (data: unknown): Data | undefined =>
  typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Data) : undefined;

/**
 * The event store with personal fields encrypted per person (crypto-shredding). On append, the fields
 * `personalFields` names are sealed with the subject's data key; on every read (streams, all,
 * subscriptions) they are opened again, or read as `ERASED` once the key is destroyed. Deciders, zod
 * contracts, projections, process managers, replay and the audit all see clear values or the
 * placeholder, never ciphertext. Events of other types pass through untouched (the same objects).
 * The request origin in an event's metadata (address and User-Agent) is sealed on append too, with
 * the actor's key, but stays sealed on reads: only the audit shows it, and opens it then (`origin.ts`).
 */
export function personalDataStore(
  store: EventStore,
  keys: PersonalDataKeys,
  fields: Readonly<Record<string, PersonalFields>> = personalFields,
): EventStore {
  // The actor's current key, for sealing request origins (nearly every command has one): kept a
  // minute instead of asked for on every append. Sealing with a key erased meanwhile is harmless:
  // what it seals reads as erased, as the person's data does.
  const originKeys = new LRUCache<string, Promise<DataKey>>({ max: 10_000, ttl: ORIGIN_KEY_TTL_MS });
  // By actor alone: a subject has one current key whatever the tenant (the tenant is recorded when
  // the key is made).
  const originKey = (actorId: string, tenantId: string | null) => {
    let key = originKeys.get(actorId);
    if (!key) {
      key = keys.current(actorId, tenantId);
      key.catch(() => originKeys.delete(actorId));
      originKeys.set(actorId, key);
    }
    return key;
  };

  async function sealEvent(event: NewEvent): Promise<NewEvent> {
    const sealed = await sealFields(event);
    const metadata = sealed.metadata;
    if (!hasClearOrigin(metadata)) return sealed;
    const key = await originKey(metadata.actorId, metadata.tenantId ?? null);
    return { ...sealed, metadata: await sealOrigin(metadata, event.id, key) };
  }

  async function sealFields(event: NewEvent): Promise<NewEvent> {
    const spec = fields[event.type];
    const data = asData(event.data);
    if (!spec || !data) return event;
    const subject = data[spec.subject];
    if (typeof subject !== 'string') return event;
    const present = spec.fields.filter((field) => typeof data[field] === 'string');
    if (present.length === 0) return event;
    const { keyId, key } = await keys.current(subject, event.metadata?.tenantId ?? null);
    const sealed: Data = { ...data };
    for (const field of present) {
      const value: SealedValue = {
        $personal: { key: keyId, sealed: await seal(key, data[field] as string, context(event.id, field)) },
      };
      sealed[field] = value;
    }
    return { ...event, data: sealed };
  }

  async function reveal(events: RecordedEvent[]): Promise<RecordedEvent[]> {
    const keyIds = new Set<string>();
    for (const event of events) {
      const spec = fields[event.type];
      const data = spec && asData(event.data);
      if (!spec || !data) continue;
      for (const field of spec.fields) {
        const value = data[field];
        if (isSealed(value)) keyIds.add(value.$personal.key);
      }
    }
    if (keyIds.size === 0) return events;
    const found = await keys.find([...keyIds]);
    return Promise.all(events.map((event) => revealEvent(event, found)));
  }

  async function revealEvent(event: RecordedEvent, found: Map<string, CryptoKey>): Promise<RecordedEvent> {
    const spec = fields[event.type];
    const data = spec && asData(event.data);
    if (!spec || !data || !spec.fields.some((field) => isSealed(data[field]))) return event;
    const clear: Data = { ...data };
    for (const field of spec.fields) {
      const value = data[field];
      if (!isSealed(value)) continue;
      const key = found.get(value.$personal.key);
      // No key: erased. A key that does not open it means altered data: that fails loudly (the read
      // throws, a projection stops as failed) rather than passing for an erasure.
      clear[field] = key ? await openField(key, value, event, field) : ERASED;
    }
    return { ...event, data: clear };
  }

  async function* revealEach(source: AsyncIterable<RecordedEvent>): AsyncIterable<RecordedEvent> {
    for await (const event of source) {
      yield fields[event.type] ? ((await reveal([event]))[0] ?? event) : event;
    }
  }

  return {
    name: store.name,
    append: async (streamId: string, events: readonly NewEvent[], options?: AppendOptions) =>
      store.append(streamId, await Promise.all(events.map(sealEvent)), options),
    readStream: async (streamId, options) => reveal(await store.readStream(streamId, options)),
    readAll: async (options) => reveal(await store.readAll(options)),
    subscribe: (options?: SubscribeOptions) => revealEach(store.subscribe(options)),
    headPosition: () => store.headPosition(),
    countAfter: (position) => store.countAfter(position),
    readPositions: (options) => store.readPositions(options),
    onAppend: (listener) => store.onAppend(listener),
    close: () => store.close(),
  };
}
