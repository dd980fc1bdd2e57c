import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { notFound } from '../../commands/kernel/errors.ts';
import {
  ClientJwk,
  type ClientSettings,
  type ClientState,
  ClientTypeSchema,
  findClient,
  GrantType,
  handleClientCommand,
  handleConsentCommand,
  IdTokenAlg,
  Scope,
  TokenEndpointAuthMethod,
} from '../../commands/oauth/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import { randomToken, sha256 } from '../../identity/tokens/crypto.ts';
import type { TokenSessions } from '../../identity/tokens/index.ts';
import type { ClientRegistry } from '../../oauth/clients.ts';
import type { OAuthClientListTables } from '../../projections/oauth/client-list.ts';
import type { OAuthConsentTables } from '../../projections/oauth/consent-list.ts';
import type { AppEnv } from '../kit/env.ts';
import { commonProblems, IfMatchHeader, jsonContent, problemContent } from '../kit/openapi.ts';
import { keysetAfter, pageWithCursor } from '../kit/pagination.ts';
import { etagOf } from '../kit/preconditions.ts';
import { RequestError } from '../kit/problem.ts';
import type { ReadModels } from '../kit/read-models.ts';
import { actingContext, tenantOf } from '../kit/scope.ts';
import { validationHook } from '../kit/validation.ts';
import { requirePermission } from '../middleware/authorize.ts';

export interface OAuthClientRouteDeps {
  store: EventStore;
  db: Kysely<Tables>;
  readModels: ReadModels;
  clock: () => Date;
  clients: ClientRegistry;
  tokens: TokenSessions;
}

const Uri = z.string().min(1).max(2000);
const Settings = {
  name: z.string().trim().min(1).max(200),
  redirect_uris: z.array(Uri).max(20),
  post_logout_redirect_uris: z.array(Uri).max(20),
  grant_types: z.array(GrantType).min(1).max(4),
  scopes: z.array(Scope).min(1).max(50),
  token_endpoint_auth_method: TokenEndpointAuthMethod,
  jwks: z.object({ keys: z.array(ClientJwk).max(10) }),
  require_dpop: z.boolean(),
  require_par: z.boolean(),
  id_token_signed_response_alg: IdTokenAlg,
  skip_consent: z.boolean(),
};
const CreateBody = z.strictObject({
  type: ClientTypeSchema.default('confidential'),
  ...Settings,
  redirect_uris: Settings.redirect_uris.default([]),
  post_logout_redirect_uris: Settings.post_logout_redirect_uris.default([]),
  grant_types: Settings.grant_types.default(['authorization_code', 'refresh_token']),
  scopes: Settings.scopes.default(['openid', 'profile', 'email']),
  token_endpoint_auth_method: Settings.token_endpoint_auth_method.optional(),
  jwks: Settings.jwks.optional(),
  require_dpop: Settings.require_dpop.optional(),
  require_par: Settings.require_par.default(false),
  id_token_signed_response_alg: Settings.id_token_signed_response_alg.default('RS256'),
  skip_consent: Settings.skip_consent.default(false),
});
const PatchBody = z.strictObject(
  Object.fromEntries(Object.entries(Settings).map(([k, v]) => [k, v.optional()])) as {
    [K in keyof typeof Settings]: z.ZodOptional<(typeof Settings)[K]>;
  },
);
const RotateBody = z.strictObject({
  keep_previous_for_seconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .default(0),
});
const Client = z
  .object({
    client_id: z.uuid(),
    type: ClientTypeSchema,
    name: z.string(),
    redirect_uris: z.array(z.string()),
    post_logout_redirect_uris: z.array(z.string()),
    grant_types: z.array(GrantType),
    scopes: z.array(z.string()),
    token_endpoint_auth_method: TokenEndpointAuthMethod,
    jwks: z.object({ keys: z.array(z.looseObject({})) }),
    require_dpop: z.boolean(),
    require_par: z.boolean(),
    id_token_signed_response_alg: IdTokenAlg,
    skip_consent: z.boolean(),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
    revision: z.number().int(),
  })
  .meta({ id: 'OAuthClient' });
const ClientWithSecret = Client.extend({
  client_secret: z.string().optional().meta({ description: 'Shown once; only its hash is kept' }),
  position: z.string(),
});
const IdParam = z.object({ id: z.uuid() });
const ListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
});
const Consent = z.object({
  client_id: z.uuid(),
  client_name: z.string(),
  scopes: z.array(z.string()),
  granted_at: z.iso.datetime(),
});

function present(state: ClientState, revision: number) {
  return {
    client_id: state.clientId,
    type: state.type,
    name: state.name,
    redirect_uris: state.redirectUris,
    post_logout_redirect_uris: state.postLogoutRedirectUris,
    grant_types: state.grantTypes,
    scopes: state.scopes,
    token_endpoint_auth_method: state.tokenEndpointAuthMethod,
    jwks: { keys: state.jwks as Record<string, unknown>[] },
    require_dpop: state.requireDpop,
    require_par: state.requirePar,
    id_token_signed_response_alg: state.idTokenSignedResponseAlg,
    skip_consent: state.skipConsent,
    created_at: state.createdAt,
    updated_at: state.updatedAt,
    revision,
  };
}

/** API field names → the aggregate's settings (only those present). */
function settingsOf(body: Partial<z.infer<typeof PatchBody>>): Partial<ClientSettings> {
  const map: [keyof typeof body, keyof ClientSettings][] = [
    ['name', 'name'],
    ['redirect_uris', 'redirectUris'],
    ['post_logout_redirect_uris', 'postLogoutRedirectUris'],
    ['grant_types', 'grantTypes'],
    ['scopes', 'scopes'],
    ['token_endpoint_auth_method', 'tokenEndpointAuthMethod'],
    ['require_dpop', 'requireDpop'],
    ['require_par', 'requirePar'],
    ['id_token_signed_response_alg', 'idTokenSignedResponseAlg'],
    ['skip_consent', 'skipConsent'],
  ];
  const out: Record<string, unknown> = {};
  for (const [from, to] of map) if (body[from] !== undefined) out[to] = body[from];
  if (body.jwks !== undefined) out.jwks = body.jwks.keys;
  return out as Partial<ClientSettings>;
}

const problems = {
  ...commonProblems,
  401: problemContent('No valid access token'),
  403: problemContent('The role lacks the permission (clients:manage)'),
  404: problemContent('No such client in this tenant'),
  412: problemContent('If-Match does not match the current revision'),
  422: problemContent('The settings do not fit together (each field named)'),
};

/**
 * OAuth clients of the tenant (`clients:manage`): register (the secret shown once, stored hashed),
 * list, read, change, rotate the secret (optionally keeping the old one for a while), delete (which
 * revokes every grant the client holds). And the caller's own consents, which they may withdraw.
 */
export function oauthClientRoutes(deps: OAuthClientRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const now = () => deps.clock().toISOString();
  const db = deps.db.withTables<OAuthClientListTables & OAuthConsentTables>();
  const newSecret = async () => {
    const secret = randomToken(256);
    return { secret, hash: await sha256(secret) };
  };
  const written = (
    c: Context<AppEnv>,
    state: ClientState,
    revision: number,
    position: bigint,
    secret?: string,
  ) => {
    c.header('ETag', etagOf(revision));
    c.header('X-Position', position.toString());
    c.header('Cache-Control', 'no-store');
    return {
      ...present(state, revision),
      ...(secret ? { client_secret: secret } : {}),
      position: position.toString(),
    };
  };
  app.use('/v1/oauth/clients', requirePermission('clients:manage'));
  app.use('/v1/oauth/clients/*', requirePermission('clients:manage'));

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/oauth/clients',
      tags: ['OAuth clients'],
      summary: 'Register an OAuth client (confidential or public); a secret is shown once',
      request: { body: { content: { 'application/json': { schema: CreateBody } }, required: true } },
      responses: { 201: jsonContent(ClientWithSecret, 'Registered'), ...problems },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const body = c.req.valid('json');
      const method =
        body.token_endpoint_auth_method ?? (body.type === 'public' ? 'none' : 'client_secret_basic');
      const secret = method.startsWith('client_secret') ? await newSecret() : undefined;
      const clientId = crypto.randomUUID();
      const settings = {
        ...(settingsOf({ ...body, token_endpoint_auth_method: method }) as ClientSettings),
        jwks: body.jwks?.keys ?? [],
        requireDpop: body.require_dpop ?? body.type === 'public',
      };
      const result = await handleClientCommand(
        deps.store,
        {
          type: 'RegisterClient',
          clientId,
          tenantId: tenant.id,
          clientType: body.type,
          settings,
          secretHash: secret?.hash ?? null,
          at: now(),
        },
        actingContext(c, tenant.id),
      );
      c.header('Location', `/v1/oauth/clients/${clientId}`);
      return c.json(written(c, result.state, result.revision, result.position, secret?.secret), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/oauth/clients',
      tags: ['OAuth clients'],
      summary: 'The tenant’s OAuth clients, newest first',
      request: { query: ListQuery },
      responses: {
        200: jsonContent(
          z.object({
            items: z.array(
              z.object({
                client_id: z.uuid(),
                name: z.string(),
                type: z.string(),
                grant_types: z.array(z.string()),
                created_at: z.iso.datetime(),
              }),
            ),
            next_cursor: z.string().nullable(),
          }),
          'A page',
        ),
        ...problems,
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const query = c.req.valid('query');
      await deps.readModels.awaitPosition(c, ['oauthClientList']);
      let select = db
        .selectFrom('oauth_client_list')
        .selectAll()
        .where('tenant_id', '=', tenant.id)
        .where('status', '=', 'active');
      if (query.cursor) select = select.where(keysetAfter(query.cursor, '-created_at'));
      const rows = await select
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(query.limit + 1)
        .execute();
      const { page, next_cursor } = pageWithCursor(rows, query.limit, '-created_at', (r) =>
        new Date(r.created_at).toISOString(),
      );
      return c.json(
        {
          items: page.map((r) => ({
            client_id: r.id,
            name: r.name,
            type: r.type,
            grant_types: r.grant_types.split(' '),
            created_at: new Date(r.created_at).toISOString(),
          })),
          next_cursor,
        },
        200,
      );
    },
  );

  const load = async (c: Context<AppEnv>, id: string) => {
    const found = await findClient(deps.store, tenantOf(c).id, id);
    if (!found) throw notFound('client');
    return found;
  };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/oauth/clients/{id}',
      tags: ['OAuth clients'],
      summary: 'One client (never its secret)',
      request: { params: IdParam },
      responses: { 200: jsonContent(Client, 'The client'), ...problems },
    }),
    async (c) => {
      const found = await load(c, c.req.valid('param').id);
      c.header('ETag', etagOf(found.revision));
      return c.json(present(found.state, found.revision), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/oauth/clients/{id}',
      tags: ['OAuth clients'],
      summary: 'Change a client’s settings (If-Match guards against lost updates)',
      request: {
        params: IdParam,
        headers: IfMatchHeader,
        body: { content: { 'application/json': { schema: PatchBody } }, required: true },
      },
      responses: { 200: jsonContent(ClientWithSecret, 'Changed'), ...problems },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const { id } = c.req.valid('param');
      const result = await handleClientCommand(
        deps.store,
        {
          type: 'UpdateClient',
          clientId: id,
          tenantId: tenant.id,
          changes: settingsOf(c.req.valid('json')),
          at: now(),
        },
        actingContext(c, tenant.id),
      );
      deps.clients.forget(tenant.id, id);
      return c.json(written(c, result.state, result.revision, result.position), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/oauth/clients/{id}/secret',
      tags: ['OAuth clients'],
      summary: 'Rotate the client secret (the new one shown once; the old one may keep working a while)',
      request: {
        params: IdParam,
        body: { content: { 'application/json': { schema: RotateBody } }, required: false },
      },
      responses: {
        200: jsonContent(ClientWithSecret, 'Rotated'),
        ...problems,
        409: problemContent('A public client has no secret'),
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const { id } = c.req.valid('param');
      const keep = (c.get('rawBody') ? c.req.valid('json') : undefined)?.keep_previous_for_seconds ?? 0;
      const secret = await newSecret();
      const at = deps.clock();
      const result = await handleClientCommand(
        deps.store,
        {
          type: 'RotateClientSecret',
          clientId: id,
          tenantId: tenant.id,
          secretHash: secret.hash,
          previousValidUntil: keep > 0 ? new Date(at.getTime() + keep * 1000).toISOString() : null,
          at: at.toISOString(),
        },
        actingContext(c, tenant.id),
      );
      deps.clients.forget(tenant.id, id);
      return c.json(written(c, result.state, result.revision, result.position, secret.secret), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/oauth/clients/{id}',
      tags: ['OAuth clients'],
      summary: 'Delete a client: its grants and tokens are revoked',
      request: { params: IdParam, headers: IfMatchHeader },
      responses: { 204: { description: 'Deleted' }, ...problems },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const { id } = c.req.valid('param');
      const result = await handleClientCommand(
        deps.store,
        { type: 'DeleteClient', clientId: id, tenantId: tenant.id, at: now() },
        actingContext(c, tenant.id),
      );
      deps.clients.forget(tenant.id, id);
      await deps.tokens.revokeClientFamilies(tenant.id, id, 'client_deleted', undefined, c.get('requestId'));
      c.header('X-Position', result.position.toString());
      return c.body(null, 204);
    },
  );

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
    return principal;
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
