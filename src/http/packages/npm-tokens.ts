import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { NpmTokenRecord, NpmTokenStore } from '../../packages/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  commonProblems,
  jsonContent,
  problemContent,
  problemResponse,
  RequestError,
  signedInUserOf,
  tenantOf,
  validationHook,
} from '../kit/index.ts';
import { requirePermission } from '../middleware/index.ts';

const NpmTokenView = z
  .object({
    id: z.uuid(),
    name: z.string(),
    created_by: z.string(),
    created_at: z.string(),
    revoked_at: z.string().nullable(),
  })
  .meta({ id: 'NpmToken' });
const IssuedNpmToken = NpmTokenView.extend({
  token: z.string().meta({ description: 'The secret, shown only in this response' }),
  registry: z.string().meta({ description: 'The tenant’s npm view: the `registry=` of `.npmrc`' }),
  npmrc: z.string().meta({ description: 'The `.npmrc` lines that install through the view with this token' }),
}).meta({ id: 'IssuedNpmToken' });
const IssueBody = z.strictObject({ name: z.string().trim().min(1).max(100) });
const IdParam = z.object({ id: z.uuid() });

const problems = {
  401: problemContent('No valid access token'),
  403: problemContent('The role may not do this'),
};

const present = (record: NpmTokenRecord): z.infer<typeof NpmTokenView> => ({
  id: record.id,
  name: record.name,
  created_by: record.createdBy,
  created_at: record.createdAt.toISOString(),
  revoked_at: record.revokedAt?.toISOString() ?? null,
});

/**
 * Read tokens of the tenant's npm view (`/t/<slug>/npm/`): issue one (its secret is shown once),
 * list them, revoke one. Anyone who may read the tenant's packages may issue one (the token reads no
 * more than that); a token is revoked by whoever issued it or by someone who manages the tenant's users.
 */
export function npmTokenRoutes(deps: { tokens: NpmTokenStore }) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.on(
    ['GET', 'POST', 'DELETE'],
    ['/v1/npm-tokens', '/v1/npm-tokens/*'],
    requirePermission('packages:read'),
  );
  const actor = (c: Context<AppEnv>) => c.get('principal')!;

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/npm-tokens',
      tags: ['Packages'],
      summary: 'Issue a read token for the tenant’s npm view; the secret is in this response only',
      request: { body: { content: { 'application/json': { schema: IssueBody } }, required: true } },
      responses: { 201: jsonContent(IssuedNpmToken, 'Issued'), ...commonProblems, ...problems },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      // A token outlives the OAuth grant it would come from: an application the user let read packages
      // does not get a credential of its own that no revocation of the grant ends.
      const { userId } = signedInUserOf(c, 'issue npm tokens');
      const { token, record } = await deps.tokens.issue({
        tenantId: tenant.id,
        userId,
        name: c.req.valid('json').name,
        requestId: c.get('requestId'),
      });
      const registry = `${new URL(c.req.url).origin}/t/${tenant.slug}/npm/`;
      c.header('Location', `/v1/npm-tokens/${record.id}`);
      // A secret shown once: no cache and no idempotent replay may keep it.
      c.header('Cache-Control', 'no-store');
      return c.json(
        {
          ...present(record),
          token,
          registry,
          npmrc: `registry=${registry}\n//${registry.replace(/^https?:\/\//, '')}:_authToken=${token}\n`,
        },
        201,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/npm-tokens',
      tags: ['Packages'],
      summary: 'The tenant’s npm read tokens (never their secrets), oldest first',
      responses: {
        200: jsonContent(z.object({ items: z.array(NpmTokenView) }), 'The tokens'),
        ...commonProblems,
        ...problems,
      },
    }),
    async (c) => {
      const items = await deps.tokens.list(tenantOf(c).id);
      return c.json({ items: items.map(present) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/npm-tokens/{id}',
      tags: ['Packages'],
      summary: 'One npm read token of the tenant (never its secret), revoked or not',
      request: { params: IdParam },
      responses: {
        200: jsonContent(NpmTokenView, 'The token'),
        ...commonProblems,
        ...problems,
        404: problemContent('No token of that id in this tenant'),
      },
    }),
    async (c) => {
      const found = await deps.tokens.find(tenantOf(c).id, c.req.valid('param').id);
      if (!found) throw new RequestError(404, 'not-found', 'no npm token of that id in this tenant');
      return c.json(present(found), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/npm-tokens/{id}',
      tags: ['Packages'],
      summary: 'Revoke an npm read token: installs with it fail from now on',
      request: { params: IdParam },
      responses: {
        204: { description: 'Revoked' },
        ...commonProblems,
        ...problems,
        404: problemContent('No live token of that id in this tenant'),
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const principal = actor(c);
      const { id } = c.req.valid('param');
      const found = await deps.tokens.find(tenant.id, id);
      if (!found || found.revokedAt !== null)
        return problemResponse(c, 404, 'not-found', 'no live npm token of that id in this tenant');
      if (found.createdBy !== principal.userId && !principal.permissions.has('users:manage'))
        return problemResponse(
          c,
          403,
          'forbidden',
          'only its issuer or a user manager may revoke this token',
          {
            required: ['users:manage'],
          },
        );
      const revoked = await deps.tokens.revoke({
        tenantId: tenant.id,
        tokenId: id,
        userId: principal.userId,
        requestId: c.get('requestId'),
      });
      if (!revoked)
        return problemResponse(c, 404, 'not-found', 'no live npm token of that id in this tenant');
      return c.body(null, 204);
    },
  );
  return app;
}
