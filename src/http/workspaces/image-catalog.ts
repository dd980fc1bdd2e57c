import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Kysely } from 'kysely';
import { notFound } from '../../commands/kernel/index.ts';
import { deleteImage, ownRefsOf, tenantImages } from '../../commands/workspaces/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { commonProblems, jsonContent, validationHook } from '../kit/index.ts';
import { workspacesContext, workspacesProblems } from './context.ts';
import { type ImageCatalogDeps, imageAccess } from './image-access.ts';
import { imageBuildRoutes } from './image-build-routes.ts';
import { imagePushRoutes } from './image-push-routes.ts';
import { removeFromRegistry } from './image-registry-cleanup.ts';
import {
  IdParam,
  Image,
  ImageList,
  present,
  presentRegistry,
  Registry,
  RegistryBody,
} from './image-views.ts';

/**
 * The tenant's image catalog (`/v1/images…`): build an image on a chosen agent from a tar context
 * (the output kept as bounded frames, streamed as SSE like a tool's), push it to the tenant's
 * registry, list, inspect and delete it (refused while a workspace runs it). Viewing, building and
 * pushing take `workspaces:view` (operators and up); deleting and setting the registry
 * `workspaces:manage` (admins).
 */
export function imageCatalogRoutes(deps: ImageCatalogDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const access = imageAccess(deps);
  const { clientOf, visible } = access;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/images/registry',
      tags: ['Images'],
      summary: 'The tenant’s image registry (the password is never shown: `password_set`)',
      responses: { 200: jsonContent(Registry, 'The registry'), ...workspacesProblems },
    }),
    async (c) => {
      const { tenant } = workspacesContext(c);
      const registry = await deps.registries.get(tenant.id);
      if (!registry) throw notFound('image registry');
      return c.json(presentRegistry(registry), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/images/registry',
      tags: ['Images'],
      summary: 'Set the tenant’s image registry; the password is sealed with the key-encryption key',
      request: { body: { content: { 'application/json': { schema: RegistryBody } }, required: true } },
      responses: { 200: jsonContent(Registry, 'The registry now'), ...commonProblems, ...workspacesProblems },
    }),
    async (c) => {
      const { tenant } = workspacesContext(c);
      const body = c.req.valid('json');
      await deps.registries.put(tenant.id, {
        url: body.url,
        username: body.username,
        ...(body.password === undefined ? {} : { password: body.password }),
      });
      const registry = await deps.registries.get(tenant.id);
      if (!registry) throw new Error('unreachable: the registry was just written');
      return c.json(presentRegistry(registry), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/images',
      tags: ['Images'],
      summary: 'The tenant’s images (deleted ones left out)',
      responses: { 200: jsonContent(ImageList, 'Images, newest first'), ...workspacesProblems },
    }),
    async (c) => {
      const { tenant } = workspacesContext(c);
      const { images } = await access.catalogOf(tenant.id);
      const items = Object.values(images)
        .filter((image) => image.status !== 'deleted')
        .sort((a, b) => b.requestedAt.localeCompare(a.requestedAt))
        .map(present);
      return c.json({ items }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/images/{id}',
      tags: ['Images'],
      summary: 'One image: its build’s state and its pushes',
      request: { params: IdParam },
      responses: { 200: jsonContent(Image, 'The image'), ...commonProblems, ...workspacesProblems },
    }),
    async (c) => {
      const { tenant } = workspacesContext(c);
      return c.json(present(await visible(tenant.id, c.req.valid('param').id)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/images/{id}',
      tags: ['Images'],
      summary:
        'Delete an image from the catalog, its agent and the tenant’s registry (409 naming the workspaces while any runs it; 409 while it builds: cancel it first); `X-Registry-Deletion` says what became of the pushed manifests: `removed`, `kept` (the registry refused: recorded with why, the catalog delete goes on) or `none`',
      request: { params: IdParam },
      responses: {
        204: {
          description: 'Deleted',
          headers: z.object({ 'X-Registry-Deletion': z.enum(['removed', 'kept', 'none']) }),
        },
        ...commonProblems,
        ...workspacesProblems,
      },
    }),
    async (c) => {
      const { tenant, actor, context } = workspacesContext(c);
      const catalog = await tenantImages(deps.store, tenant.id);
      const image = catalog.images[c.req.valid('param').id];
      if (!image || image.status === 'deleted') throw notFound('image');
      await deps.readModels.caughtUp(c, ['workspaceList']);
      // Only what this image alone answers for: a tag built again since it was lost (or a ref another
      // image was pushed to too) is the other image's, neither removed nor a reason to refuse.
      const refs = ownRefsOf(image, catalog);
      const using =
        refs.length === 0
          ? []
          : await (deps.db as unknown as Kysely<WorkspaceListTables>)
              .selectFrom('workspace_list')
              .select(['id', 'status'])
              .where('tenant_id', '=', tenant.id)
              .where('image', 'in', refs)
              .where('status', '!=', 'deleted')
              .execute();
      const usedBy = using.map((w) => w.id);
      // Refused ones (building, in use) are refused before the registry is touched.
      const registry =
        image.status === 'building' || usedBy.length > 0
          ? { registry: 'none' as const }
          : await removeFromRegistry(deps, tenant.id, image, refs);
      const result = await deleteImage(
        deps.store,
        {
          tenantId: tenant.id,
          imageId: image.imageId,
          usedBy,
          ...registry,
          by: actor.userId,
          at: deps.clock().toISOString(),
        },
        context,
      );
      if (registry.registry === 'kept') {
        deps.logger?.warn(
          { imageId: image.imageId, detail: registry.registryDetail },
          'the registry kept a deleted image',
        );
      }
      c.header('X-Registry-Deletion', registry.registry);
      // The catalog entry is gone; the agent's copy goes too (an absent or silent agent is left as is).
      if (refs.length > 0) {
        try {
          const { client } = await clientOf(tenant.id, image.agentId, 10_000);
          for (const ref of refs) await client.removeImage(ref).catch(() => false);
        } catch {}
      }
      c.header('X-Position', result.position.toString());
      return c.body(null, 204);
    },
  );

  imageBuildRoutes(app, deps, access);
  imagePushRoutes(app, deps, access);
  return app;
}

type WorkspaceListTables = {
  workspace_list: { id: string; tenant_id: string; image: string; status: string };
};
