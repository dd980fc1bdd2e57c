import { conflict, validated } from '../kernel/index.ts';
import { type LockedEntry, packageEventSchemas, type RequestEvent } from './events.ts';

export interface RequestState {
  exists: boolean;
  requestId: string;
  tenantId: string;
  by: string;
  packages: number;
  /** The packages the pipeline handles (bundled ones arrive inside their parent), in lockfile order. */
  specs: string[];
  at: string;
}

export type RequestCommand = {
  type: 'SubmitRequest';
  requestId: string;
  tenantId: string;
  by: string;
  lockfileFormat: 'package-lock' | 'pnpm-lock' | 'yarn-classic' | 'yarn-berry';
  lockfileVersion: number;
  project: string | null;
  packages: LockedEntry[];
  rejected: { path: string; name?: string; source: string; reason: 'unsupported_source' }[];
  at: string;
};

/**
 * A submitted lockfile. Its one event names every package; how far each has come is read from the
 * packages themselves (a package is processed once per tenant, however many requests name it).
 */
export const requestDecider = validated<RequestCommand, RequestEvent, RequestState>(
  {
    initialState: () => ({
      exists: false,
      requestId: '',
      tenantId: '',
      by: '',
      packages: 0,
      specs: [],
      at: '',
    }),
    decide(command, state) {
      if (state.exists) throw conflict('this package request was already submitted');
      const { type: _, ...data } = command;
      return [{ type: 'PackageRequestSubmitted', data }];
    },
    evolve: (_state, event) => ({
      exists: true,
      requestId: event.data.requestId,
      tenantId: event.data.tenantId,
      by: event.data.by,
      packages: event.data.packages.length,
      specs: event.data.packages.filter((p) => !p.bundled).map((p) => p.spec),
      at: event.data.at,
    }),
  },
  packageEventSchemas,
);
