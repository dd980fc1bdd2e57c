export { issueRules } from './issue-rules.ts';
export { projectMemberships } from './project-memberships.ts';
