import type { Kysely } from 'kysely';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { PackageListTables, PackageRequestTables } from '../../projections/packages/index.ts';
import type { ReadModels } from '../kit/index.ts';
import { problemContent } from '../kit/index.ts';

export interface PackageRouteDeps {
  store: EventStore;
  db: Kysely<Tables>;
  readModels: ReadModels;
  clock: () => Date;
}

/** The read models the firewall's lists come from. */
export type DB = PackageListTables & PackageRequestTables;

export const problems = {
  401: problemContent('No valid access token'),
  403: problemContent('The role may not do this'),
  404: problemContent('No such package or request in this tenant'),
};
export const writeProblems = {
  ...problems,
  409: problemContent('The package is not in a state that allows it, or a rule refuses it (`rule`)'),
  412: problemContent('If-Match does not match the current revision'),
};
