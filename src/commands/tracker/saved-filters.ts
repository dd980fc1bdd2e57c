import type { Decider } from '../kernel/index.ts';
import { conflict, notFound, ruleViolated, validated } from '../kernel/index.ts';
import {
  MAX_SAVED_FILTERS,
  type SavedFilterEvent,
  type SavedFilterTarget,
  trackerEventSchemas,
} from './events.ts';

export interface SavedFilter {
  filterId: string;
  name: string;
  target: SavedFilterTarget;
  projectId: string | null;
  query: string;
  createdAt: string;
}

/** One user's saved filters in one tenant. */
export interface SavedFiltersState {
  exists: boolean;
  tenantId: string;
  ownerId: string;
  filters: Record<string, SavedFilter>;
}

export type SavedFiltersCommand =
  | {
      type: 'SaveFilter';
      filterId: string;
      tenantId: string;
      ownerId: string;
      name: string;
      target: SavedFilterTarget;
      projectId: string | null;
      /** Already parsed by the list it targets (the handler checks it; the decider keeps the rules). */
      query: string;
      at: string;
    }
  | { type: 'DeleteSavedFilter'; filterId: string; at: string };

const initialState = (): SavedFiltersState => ({ exists: false, tenantId: '', ownerId: '', filters: {} });

function decide(command: SavedFiltersCommand, state: SavedFiltersState): SavedFilterEvent[] {
  if (command.type === 'SaveFilter') {
    const { type: _, ...data } = command;
    // A replayed creation (same filter id, same content) appends nothing.
    const same = state.filters[command.filterId];
    if (same) {
      if (same.name === command.name && same.query === command.query && same.target === command.target) {
        return [];
      }
      throw conflict('a saved filter with this id exists');
    }
    const filters = Object.values(state.filters);
    const taken = filters.some((f) => f.name.toLowerCase() === command.name.toLowerCase());
    if (taken) throw conflict(`you already have a saved filter named "${command.name}"`);
    if (filters.length >= MAX_SAVED_FILTERS) {
      throw ruleViolated(
        'saved_filter_limit',
        `a user keeps at most ${MAX_SAVED_FILTERS} saved filters: delete one first`,
      );
    }
    return [{ type: 'SavedFilterCreated', data }];
  }
  if (!state.filters[command.filterId]) throw notFound('saved filter');
  const { tenantId, ownerId } = state;
  return [
    { type: 'SavedFilterDeleted', data: { filterId: command.filterId, tenantId, ownerId, at: command.at } },
  ];
}

function evolve(state: SavedFiltersState, event: SavedFilterEvent): SavedFiltersState {
  switch (event.type) {
    case 'SavedFilterCreated': {
      const { filterId, tenantId, ownerId, name, target, projectId, query, at } = event.data;
      return {
        exists: true,
        tenantId,
        ownerId,
        filters: {
          ...state.filters,
          [filterId]: { filterId, name, target, projectId, query, createdAt: at },
        },
      };
    }
    case 'SavedFilterDeleted': {
      const { [event.data.filterId]: _, ...filters } = state.filters;
      return { ...state, filters };
    }
    default:
      return state;
  }
}

/**
 * A user's saved filters: one stream per user and tenant, so another user's filter is simply not
 * there (404), the per-user limit holds under concurrency (the stream's revision orders the writes),
 * and names are unique per user.
 */
export const savedFiltersDecider: Decider<SavedFiltersCommand, SavedFilterEvent, SavedFiltersState> =
  validated({ initialState, decide, evolve }, trackerEventSchemas);
