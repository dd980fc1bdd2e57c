import { describe, it } from 'vitest';
import {
  MAX_SAVED_FILTERS,
  type SavedFilterEvent,
  savedFiltersDecider,
} from '../../src/commands/tracker/index.ts';
import { specFor } from '../support/decider-spec.ts';
import { at, people, tenantId } from './support.ts';

const spec = specFor(savedFiltersDecider);
const owner = people.ann;
const filterId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const save = (n: number, name = `Filter ${n}`) => ({
  type: 'SaveFilter' as const,
  filterId: filterId(n),
  tenantId,
  ownerId: owner,
  name,
  target: 'issues' as const,
  projectId: null,
  query: 'status=open',
  at,
});
const saved = (n: number, name = `Filter ${n}`): SavedFilterEvent => {
  const { type: _, ...data } = save(n, name);
  return { type: 'SavedFilterCreated', data };
};

describe('saved filters decider', () => {
  it('saves a filter; the same save again (a replay) appends nothing; another with its id is a conflict', () => {
    spec
      .given([])
      .when(save(1))
      .thenEvents([saved(1)]);
    spec
      .given([saved(1)])
      .when(save(1))
      .thenEvents([]);
    spec
      .given([saved(1)])
      .when({ ...save(1), query: 'status=closed' })
      .thenFails('CONFLICT');
  });

  it('keeps names unique per user, whatever their case', () => {
    spec
      .given([saved(1, 'Open bugs')])
      .when(save(2, 'OPEN BUGS'))
      .thenFails('CONFLICT');
  });

  it(`refuses the ${MAX_SAVED_FILTERS + 1}th filter, naming the rule; a deletion makes room`, () => {
    const full = Array.from({ length: MAX_SAVED_FILTERS }, (_, i) => saved(i + 1));
    spec.given(full).when(save(1000)).thenFails('RULE_VIOLATED', 'saved_filter_limit');
    const deleted: SavedFilterEvent = {
      type: 'SavedFilterDeleted',
      data: { filterId: filterId(1), tenantId, ownerId: owner, at },
    };
    spec
      .given([...full, deleted])
      .when(save(1000))
      .thenEvents([saved(1000)]);
  });

  it('deletes only a filter it holds: an unknown (or another user’s) id is not found, a second delete too', () => {
    const deleted: SavedFilterEvent = {
      type: 'SavedFilterDeleted',
      data: { filterId: filterId(1), tenantId, ownerId: owner, at },
    };
    spec
      .given([saved(1)])
      .when({ type: 'DeleteSavedFilter', filterId: filterId(1), at })
      .thenEvents([deleted]);
    spec
      .given([saved(1)])
      .when({ type: 'DeleteSavedFilter', filterId: filterId(2), at })
      .thenFails('NOT_FOUND');
    spec
      .given([saved(1), deleted])
      .when({ type: 'DeleteSavedFilter', filterId: filterId(1), at })
      .thenFails('NOT_FOUND');
  });

  it('refuses a name the event contract refuses (validated decide), appending nothing', () => {
    spec
      .given([])
      .when(save(1, 'x'.repeat(101)))
      .thenFails('INVALID');
  });
});
