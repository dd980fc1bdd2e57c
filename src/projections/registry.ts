import { auditEntries } from './audit/audit-entries.ts';
import type { Projection } from './engine/projection.ts';
import { userList } from './identity/user-list.ts';
import { oauthClientList } from './oauth/client-list.ts';
import { oauthConsentList } from './oauth/consent-list.ts';
import { packageList } from './packages/package-list.ts';
import { packageRequests } from './packages/package-requests.ts';
import { tenantDomains } from './tenancy/tenant-domains.ts';
import { tenantList } from './tenancy/tenant-list.ts';
import { executionList } from './tools/index.ts';
import { issueList } from './tracker/issue-list.ts';
import { projectList } from './tracker/project-list.ts';

/** A projection typed against its own tables, seen by the engine as one of many. */
const erase = <DB>(projection: Projection<DB>) => projection as unknown as Projection;

/** Every read model the service maintains. */
export const projections: readonly Projection[] = [
  erase(tenantList),
  erase(tenantDomains),
  erase(userList),
  erase(auditEntries),
  erase(projectList),
  erase(issueList),
  erase(packageList),
  erase(packageRequests),
  erase(oauthClientList),
  erase(oauthConsentList),
  erase(executionList),
];
