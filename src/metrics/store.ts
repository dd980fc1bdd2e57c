import type { EventStore } from '../eventstore/port.ts';
import type { Metrics } from './metrics.ts';

/** `identity.User-…` → `identity`: the context, a bounded label. */
const contextOf = (streamId: string) => {
  const dot = streamId.indexOf('.');
  return dot > 0 ? streamId.slice(0, dot) : 'other';
};

/** The store, with each append timed and its events counted (a decorator, as upcasting is). */
export function meteredStore(store: EventStore, metrics: Metrics): EventStore {
  return {
    name: store.name,
    append: async (streamId, events, options) => {
      const stop = metrics.appendDuration.startTimer();
      const result = await store.append(streamId, events, options);
      stop();
      metrics.eventsAppended.inc({ context: contextOf(streamId) }, events.length);
      return result;
    },
    readStream: (streamId, options) => store.readStream(streamId, options),
    readAll: (options) => store.readAll(options),
    subscribe: (options) => store.subscribe(options),
    headPosition: () => store.headPosition(),
    countAfter: (position) => store.countAfter(position),
    readPositions: (options) => store.readPositions(options),
    onAppend: (listener) => store.onAppend(listener),
    close: () => store.close(),
  };
}
