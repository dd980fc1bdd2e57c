import type { ClientState } from '../../commands/oauth/index.ts';
import { authorizationCodeGrant } from './authorization-code.ts';
import { clientCredentialsGrant } from './client-credentials.ts';
import type { Grant } from './grant.ts';
import { passwordGrant } from './password.ts';
import { refreshTokenGrant } from './refresh-token.ts';

export { accessTokenConfig, type Grant, type GrantRequest, type TokenResponse } from './grant.ts';

/** The token endpoint's grants by `grant_type`; a client uses only those it was registered for. */
export const grants: Record<ClientState['grantTypes'][number], Grant> = {
  authorization_code: authorizationCodeGrant,
  refresh_token: refreshTokenGrant,
  client_credentials: clientCredentialsGrant,
  password: passwordGrant,
};

/** The grant a `grant_type` names, if the token endpoint serves it. */
export function grantFor(grantType: string): Grant | undefined {
  return Object.hasOwn(grants, grantType) ? grants[grantType as keyof typeof grants] : undefined;
}
