import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { notFound } from '../../commands/kernel/index.ts';
import {
  type ClientSettings,
  type ClientState,
  findClient,
  handleClientCommand,
} from '../../commands/oauth/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import { randomToken, sha256 } from '../../identity/index.ts';
import type { TokenSessions } from '../../identity/tokens/index.ts';
import type { ClientRegistry } from '../../oauth/index.ts';
import type { OAuthClientListTables, OAuthConsentTables } from '../../projections/oauth/index.ts';
import type { AppEnv, ReadModels } from '../kit/index.ts';
import {
  actingContext,
  etagOf,
  IfMatchHeader,
  jsonContent,
  keysetAfter,
  pageWithCursor,
  principalOf,
  problemContent,
  RequestError,
  tenantOf,
  validationHook,
} from '../kit/index.ts';
import { requirePermission } from '../middleware/index.ts';
import {
  Client,
  ClientWithSecret,
  CreateBody,
  canonicalCreate,
  canonicalPatch,
  IdParam,
  ListQuery,
  PatchBody,
  present,
  problems,
  RESPONSE_TYPES_MESSAGE,
  RotateBody,
  responseTypesFit,
  settingsOf,
} from './client-schemas.ts';

export interface OAuthClientRouteDeps {
  store: EventStore;
  db: Kysely<Tables>;
  readModels: ReadModels;
  clock: () => Date;
  clients: ClientRegistry;
  tokens: TokenSessions;
}

/**
 * OAuth clients of the tenant (`clients:manage`): register (the secret shown once, stored hashed),
 * list, read, change, rotate the secret (optionally keeping the old one for a while), delete (which
 * revokes every grant the client holds). The caller's own consents: consents.ts.
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
      const body = canonicalCreate(c.req.valid('json'));
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
          grantable: [...principalOf(c).permissions],
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
      const patch = c.req.valid('json');
      if (patch.response_types !== undefined && patch.grant_types === undefined) {
        // Checked against the grants the client has now (a change of both is checked by the schema).
        const current = await load(c, id);
        if (!responseTypesFit(patch.response_types, current.state.grantTypes)) {
          throw new RequestError(400, 'validation', 'the request is not valid', [
            { path: 'response_types', message: RESPONSE_TYPES_MESSAGE },
          ]);
        }
      }
      const result = await handleClientCommand(
        deps.store,
        {
          type: 'UpdateClient',
          clientId: id,
          tenantId: tenant.id,
          changes: settingsOf(canonicalPatch(patch)),
          grantable: [...principalOf(c).permissions],
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

  return app;
}
