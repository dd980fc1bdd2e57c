import { auditEntries } from './audit-entries.ts';
import { oauthClientList } from './oauth-clients.ts';
import { oauthConsentList } from './oauth-consents.ts';
import { packageList } from './package-list.ts';
import { packageRequests } from './package-requests.ts';
import type { Projection } from './projection.ts';
import { tenantDomains } from './tenant-domains.ts';
import { tenantList } from './tenant-list.ts';
import { issueList } from './tracker-issues.ts';
import { projectList } from './tracker-projects.ts';
import { userList } from './user-list.ts';

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
];
