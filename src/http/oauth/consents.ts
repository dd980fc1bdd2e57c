import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import { handleConsentCommand } from '../../commands/oauth/index.ts';
import type { OAuthClientListTables, OAuthConsentTables } from '../../projections/oauth/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  actingContext,
  commonProblems,
  jsonContent,
  problemContent,
  RequestError,
  signedInUserOf,
  tenantOf,
  validationHook,
} from '../kit/index.ts';
import { Consent, IdParam } from './client-schemas.ts';
import type { OAuthClientRouteDeps } from './clients.ts';

/** The caller's own consents: the applications they allowed, and withdrawing one (which revokes its grants). */
export function oauthConsentListRoutes(deps: OAuthClientRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const now = () => deps.clock().toISOString();
  const db = deps.db.withTables<OAuthClientListTables & OAuthConsentTables>();

  const signedIn = (c: Context<AppEnv>) => {
    const principal = c.get('principal');
    if (!principal) {
      c.header('WWW-Authenticate', 'Bearer');
      throw new RequestError(
        401,
        'unauthenticated',
        'send a valid access token: Authorization: Bearer <token>',
      );
    }
    // The user's own decisions: a client holding the user's token may neither see which other
    // applications they allowed nor withdraw them.
    return signedInUserOf(c, 'manage your consents');
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/oauth/consents',
      tags: ['OAuth clients'],
      summary: 'The applications the caller has allowed, with the scopes',
      security: [{ bearerAuth: [] }],
      responses: {
        200: jsonContent(z.object({ items: z.array(Consent) }), 'The consents'),
        401: problemContent('No valid access token'),
        403: problemContent('A token an OAuth client holds'),
      },
    }),
    async (c) => {
      const principal = signedIn(c);
      const tenant = tenantOf(c);
      await deps.readModels.awaitPosition(c, ['oauthConsentList', 'oauthClientList']);
      const rows = await db
        .selectFrom('oauth_consent_list')
        .innerJoin('oauth_client_list', 'oauth_client_list.id', 'oauth_consent_list.client_id')
        .select([
          'oauth_consent_list.client_id',
          'oauth_client_list.name',
          'oauth_consent_list.scopes',
          'oauth_consent_list.granted_at',
        ])
        .where('oauth_consent_list.tenant_id', '=', tenant.id)
        .where('oauth_consent_list.user_id', '=', principal.userId)
        .orderBy('oauth_consent_list.granted_at', 'desc')
        .limit(500)
        .execute();
      return c.json(
        {
          items: rows.map((r) => ({
            client_id: r.client_id,
            client_name: r.name,
            scopes: r.scopes.split(' ').filter(Boolean),
            granted_at: new Date(r.granted_at).toISOString(),
          })),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/oauth/consents/{id}',
      tags: ['OAuth clients'],
      summary:
        'Withdraw consent from a client: the next sign-in asks again, and its grants for you are revoked',
      security: [{ bearerAuth: [] }],
      request: { params: IdParam },
      responses: {
        204: { description: 'Withdrawn' },
        401: problemContent('No valid access token'),
        ...commonProblems,
        403: problemContent('A token an OAuth client holds'),
      },
    }),
    async (c) => {
      const principal = signedIn(c);
      const tenant = tenantOf(c);
      const { id } = c.req.valid('param');
      const result = await handleConsentCommand(
        deps.store,
        { type: 'RevokeConsent', tenantId: tenant.id, userId: principal.userId, clientId: id, at: now() },
        actingContext(c, tenant.id),
      );
      await deps.tokens.revokeClientFamilies(
        tenant.id,
        id,
        'consent_revoked',
        principal.userId,
        c.get('requestId'),
      );
      c.header('X-Position', result.position.toString());
      return c.body(null, 204);
    },
  );

  return app;
}
