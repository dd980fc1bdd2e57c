import type { Logger } from '../../logger.ts';
import type { ContainerEngine } from '../docker/port.ts';
import type { HostStats } from './host-stats.ts';
import type { KeyStore } from './key-store.ts';

export const AGENT_API_VERSION = '1.0.0';

export interface AgentAppDeps {
  engine: ContainerEngine;
  keys: KeyStore;
  /** The key read at start-up (undefined until enrolled). */
  initialKey: Uint8Array | undefined;
  enrolmentToken: string | undefined;
  clock: () => Date;
  maxSkewSeconds: number;
  publishHost: string;
  stats: () => Promise<HostStats>;
  logger: Logger;
  /** The agent's work folder: uploads arrive in `uploads/` and are kept in `store/`. */
  workDir: string;
}
