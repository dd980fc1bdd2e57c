export { type OAuthClientListTables, oauthClientList } from './client-list.ts';
export { type OAuthConsentTables, oauthConsentList } from './consent-list.ts';
