import { mkdir, rm } from 'node:fs/promises';
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import { ContainerEngineError, type ContainerInfo, type RegistryAuth } from '../docker/port.ts';
import type { AgentAppDeps } from './app-deps.ts';
import { WORKSPACE_DATA_MOUNT, workspaceDataFolder, workspaceFolderOfContainer } from './data-folders.ts';
import { authOf } from './images.ts';
import { invalid, signed } from './problems.ts';
import {
  Container,
  ContainerList,
  CreateContainer,
  Created,
  DeleteQuery,
  json,
  ListQuery,
  LogsQuery,
  Port,
  problem,
  RefParams,
} from './schemas.ts';

function present(info: ContainerInfo) {
  return {
    id: info.id,
    name: info.name,
    image: info.image,
    state: info.state,
    running: info.running,
    labels: info.labels,
    ports: info.ports.map((port) => ({
      container_port: port.containerPort,
      host_ip: port.hostIp,
      host_port: port.hostPort,
    })),
    created_at: info.createdAt,
  };
}

/** The container operations Warden drives, on the containers this agent manages. */
export function containerRoutes(deps: AgentAppDeps) {
  const app = new OpenAPIHono({ defaultHook: invalid });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/containers',
      tags: ['Containers'],
      summary:
        'Create a container (or find the one already named so: creating is idempotent by name); a workspace’s (label `warden.workspace`) gets its data folder at /data',
      security: signed,
      request: { body: { content: { 'application/json': { schema: CreateContainer } }, required: true } },
      responses: {
        201: json(Created, 'Created'),
        200: json(Created, 'A container with this name already exists'),
        401: problem('Not signed, stale or replayed'),
        404: problem('Unknown image'),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      // A workspace's container (labelled with its id) gets its data folder at /data.
      const dataFolder = workspaceDataFolder(deps.workDir, body.labels['warden.workspace'] ?? '');
      if (dataFolder) await mkdir(dataFolder, { recursive: true });
      const result = await deps.engine.create({
        name: body.name,
        image: body.image,
        ...(body.cmd ? { cmd: body.cmd } : {}),
        ...(body.env ? { env: body.env } : {}),
        ports: body.ports,
        publishHost: deps.publishHost,
        ...(body.cpus ? { cpus: body.cpus } : {}),
        ...(body.memory_mb ? { memoryBytes: body.memory_mb * 1024 * 1024 } : {}),
        labels: { ...body.labels, 'warden.managed': 'true' },
        ...(dataFolder ? { mounts: [{ source: dataFolder, target: WORKSPACE_DATA_MOUNT }] } : {}),
        ...(body.registry_auth ? { registryAuth: authOf(body.registry_auth) as RegistryAuth } : {}),
      });
      return c.json(result, result.created ? 201 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/containers',
      tags: ['Containers'],
      summary: 'Containers this agent manages, filtered by label (`label=key=value`, repeatable)',
      security: signed,
      request: { query: ListQuery },
      responses: { 200: json(ContainerList, 'Containers'), 401: problem('Not signed, stale or replayed') },
    }),
    async (c) => {
      const { label } = c.req.valid('query');
      const labels = label === undefined ? [] : Array.isArray(label) ? label : [label];
      const items = await deps.engine.list(['warden.managed=true', ...labels]);
      return c.json({ items: items.map(present) }, 200);
    },
  );

  const refused = { 401: problem('Not signed, stale or replayed'), 404: problem('No such container') };

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/containers/{ref}',
      tags: ['Containers'],
      summary: 'Inspect a container',
      security: signed,
      request: { params: RefParams },
      responses: { 200: json(Container, 'The container'), ...refused },
    }),
    async (c) => c.json(present(await deps.engine.inspect(c.req.valid('param').ref)), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/containers/{ref}/start',
      tags: ['Containers'],
      summary: 'Start a container (already running is fine)',
      security: signed,
      request: { params: RefParams },
      responses: { 200: json(Container, 'Started'), ...refused },
    }),
    async (c) => {
      const { ref } = c.req.valid('param');
      await deps.engine.start(ref);
      return c.json(present(await deps.engine.inspect(ref)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/containers/{ref}/stop',
      tags: ['Containers'],
      summary: 'Stop a container (already stopped is fine)',
      security: signed,
      request: { params: RefParams },
      responses: { 200: json(Container, 'Stopped'), ...refused },
    }),
    async (c) => {
      const { ref } = c.req.valid('param');
      await deps.engine.stop(ref);
      return c.json(present(await deps.engine.inspect(ref)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/containers/{ref}',
      tags: ['Containers'],
      summary: 'Remove a container, running or not; `volumes=true` removes its volumes too',
      security: signed,
      request: { params: RefParams, query: DeleteQuery },
      responses: {
        204: { description: 'Removed' },
        401: problem('Not signed, stale or replayed'),
        404: problem('No such container'),
      },
    }),
    async (c) => {
      const ref = c.req.valid('param').ref;
      const volumes = c.req.valid('query').volumes === 'true';
      // A workspace's data folder goes with its volumes, also when the container is already gone (a
      // retried deprovisioning step must still leave no data behind), but never while it may still
      // run: its container could swap a folder for a link while the recursive delete walks it.
      let gone = false;
      try {
        await deps.engine.remove(ref, { volumes });
        gone = true;
      } catch (error) {
        gone = error instanceof ContainerEngineError && error.code === 'not_found';
        throw error;
      } finally {
        const folder = volumes && gone ? workspaceFolderOfContainer(deps.workDir, ref) : undefined;
        if (folder) await rm(folder, { recursive: true, force: true });
      }
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/containers/{ref}/ports',
      tags: ['Containers'],
      summary: 'The container’s published ports',
      security: signed,
      request: { params: RefParams },
      responses: { 200: json(Port.array(), 'Ports'), ...refused },
    }),
    async (c) => c.json(present(await deps.engine.inspect(c.req.valid('param').ref)).ports, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/containers/{ref}/logs',
      tags: ['Containers'],
      summary: 'The last lines the container wrote (stdout and stderr)',
      security: signed,
      request: { params: RefParams, query: LogsQuery },
      responses: {
        200: { description: 'Log text', content: { 'text/plain': { schema: z.string() } } },
        401: problem('Not signed, stale or replayed'),
        404: problem('No such container'),
      },
    }),
    async (c) => {
      const text = await deps.engine.logs(c.req.valid('param').ref, c.req.valid('query').tail);
      return c.text(text, 200);
    },
  );
  return app;
}
