import type { Kysely } from 'kysely';
import { up as eventStore } from './0001-event-store.ts';
import { up as projections } from './0002-projections.ts';
import { up as processes } from './0003-processes.ts';
import { up as idempotency } from './0004-idempotency.ts';
import { up as tokens } from './0005-tokens.ts';
import { up as limits } from './0006-limits.ts';
import { up as tracker } from './0007-tracker.ts';
import { up as audit } from './0008-audit.ts';
import { up as revocationSync } from './0010-revocation-sync.ts';
import { up as jobsAndAdvisories } from './0012-jobs-and-advisories.ts';
import { up as oauth } from './0013-oauth.ts';
import { up as personalDataKeys } from './0014-personal-data-keys.ts';
import { up as tools } from './0015-tools.ts';
import { up as workspaces } from './0016-workspaces.ts';
import { up as npmTokens } from './0017-npm-tokens.ts';
import { up as projectMemberships } from './0019-project-memberships.ts';
import { up as agentHeartbeats } from './0020-agent-heartbeats.ts';
import { up as eventAppendJsonPayloads } from './0021-event-append-json-payloads.ts';
import { up as agentStatsSamples } from './0022-agent-stats-samples.ts';
import { up as workspaceTraffic } from './0023-workspace-traffic.ts';
import { up as advisoryFeed } from './0024-advisory-feed.ts';
import { up as imageRegistries } from './0025-image-registries.ts';
import { up as workspaceAccess } from './0026-workspace-access.ts';
import { up as workspaceSessions } from './0027-workspace-sessions.ts';
import { up as workspaceAccessAuthorized } from './0028-workspace-access-authorized.ts';
import { up as outputRetention } from './0029-output-retention.ts';

export interface Migration {
  name: string;
  up(db: Kysely<unknown>): Promise<void>;
}

/** Forward-only, numbered; a new migration is appended here and never edited once it has landed. */
export const migrations: readonly Migration[] = [
  { name: '0001-event-store', up: eventStore },
  { name: '0002-projections', up: projections },
  { name: '0003-processes', up: processes },
  { name: '0004-idempotency', up: idempotency },
  { name: '0005-tokens', up: tokens },
  { name: '0006-limits', up: limits },
  { name: '0007-tracker', up: tracker },
  { name: '0008-audit', up: audit },
  { name: '0010-revocation-sync', up: revocationSync },
  { name: '0012-jobs-and-advisories', up: jobsAndAdvisories },
  { name: '0013-oauth', up: oauth },
  { name: '0014-personal-data-keys', up: personalDataKeys },
  { name: '0015-tools', up: tools },
  { name: '0016-workspaces', up: workspaces },
  { name: '0017-npm-tokens', up: npmTokens },
  { name: '0019-project-memberships', up: projectMemberships },
  { name: '0020-agent-heartbeats', up: agentHeartbeats },
  { name: '0021-event-append-json-payloads', up: eventAppendJsonPayloads },
  { name: '0022-agent-stats-samples', up: agentStatsSamples },
  { name: '0023-workspace-traffic', up: workspaceTraffic },
  { name: '0024-advisory-feed', up: advisoryFeed },
  { name: '0025-image-registries', up: imageRegistries },
  { name: '0026-workspace-access', up: workspaceAccess },
  { name: '0027-workspace-sessions', up: workspaceSessions },
  { name: '0028-workspace-access-authorized', up: workspaceAccessAuthorized },
  { name: '0029-output-retention', up: outputRetention },
];
