export { issueRules } from './issue-rules.ts';
