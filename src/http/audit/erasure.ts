import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { erasePersonalData } from '../../commands/identity/index.ts';
import type { Tables } from '../../db/tables.ts';
import type { EventStore } from '../../eventstore/port.ts';
import type { PersonalDataKeys } from '../../privacy/index.ts';
import type { AppEnv } from '../kit/index.ts';
import {
  actingContext,
  actorIdOf,
  actsAsOwner,
  commonProblems,
  jsonContent,
  problemContent,
  tenantOf,
  validationHook,
} from '../kit/index.ts';
import { forgetResponsesAbout, requirePermission } from '../middleware/index.ts';

export interface ErasureRouteDeps {
  store: EventStore;
  db: Kysely<Tables>;
  personalData: Pick<PersonalDataKeys, 'erase' | 'find'>;
  clock: () => Date;
}

const IdParam = z.object({ id: z.uuid() });
const Erased = z
  .object({
    id: z.uuid(),
    erased: z.literal(true),
    position: z.string().meta({ description: 'Send as X-Min-Position to read the user list back' }),
  })
  .meta({ id: 'PersonalDataErased' });

/**
 * `POST /v1/users/{id}/erase`: the right to erasure on an append-only store (crypto-shredding). The
 * user is removed if still live (an owner only by an owner or the platform superadmin),
 * `PersonalDataErased` names the actor, and the user's data key is
 * destroyed: their email, name and password hash read as erased everywhere from then on. Stored
 * idempotent responses about them are dropped too.
 */
export function erasureRoutes(deps: ErasureRouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.on('POST', '/v1/users/:id/erase', requirePermission('users:manage'));
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/users/{id}/erase',
      tags: ['Users'],
      summary: 'Erase a user’s personal data (removes a live user first; destroys their key; idempotent)',
      request: { params: IdParam },
      responses: {
        200: jsonContent(Erased, 'Erased (also when it already was)'),
        ...commonProblems,
        401: problemContent('No valid access token'),
        403: problemContent('The role lacks users:manage, or the user is an owner and the caller is not'),
        404: problemContent('No such user in this tenant'),
        409: problemContent('The last owner of the tenant cannot be removed, so not erased'),
      },
    }),
    async (c) => {
      const tenant = tenantOf(c);
      const { id } = c.req.valid('param');
      const actorId = actorIdOf(c);
      const { metadata } = actingContext(c, tenant.id);
      const result = await erasePersonalData(
        deps.store,
        {
          tenantId: tenant.id,
          userId: id,
          by: actorId ?? 'unknown',
          actorIsOwner: actsAsOwner(c),
          at: deps.clock().toISOString(),
        },
        { metadata },
        async (userId) => {
          await deps.personalData.erase(userId);
          await forgetResponsesAbout(deps.db, userId);
        },
      );
      c.header('X-Position', result.position.toString());
      return c.json({ id, erased: true as const, position: result.position.toString() }, 200);
    },
  );
  return app;
}
