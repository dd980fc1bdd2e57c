import { auditEntries } from './audit/index.ts';
import type { Projection } from './engine/index.ts';
import { userList } from './identity/index.ts';
import { oauthClientList, oauthConsentList } from './oauth/index.ts';
import { packageList, packageRequests } from './packages/index.ts';
import { tenantDomains, tenantList } from './tenancy/index.ts';
import { executionList } from './tools/index.ts';
import { issueList, projectList, savedFilterList } from './tracker/index.ts';
import { agentList, routeList, workspaceList } from './workspaces/index.ts';

/** Every read model the service maintains. */
export const projections: readonly Projection[] = [
  tenantList,
  tenantDomains,
  userList,
  auditEntries,
  projectList,
  issueList,
  savedFilterList,
  packageList,
  packageRequests,
  oauthClientList,
  oauthConsentList,
  agentList,
  workspaceList,
  routeList,
  executionList,
];
