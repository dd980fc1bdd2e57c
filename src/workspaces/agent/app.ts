import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { type ZodError, z } from 'zod';
import { sha256Hex } from '../../crypto/digest.ts';
import type { Logger } from '../../logger.ts';
import { type ContainerEngine, ContainerEngineError, type ContainerInfo } from '../docker/port.ts';
import { encodeKey } from '../signing.ts';
import type { HostStats } from './host-stats.ts';
import type { KeyStore } from './key-store.ts';
import { NonceLedger, requireSignature } from './request-auth.ts';
import {
  Container,
  ContainerList,
  CreateContainer,
  Created,
  DeleteQuery,
  EnrolAnswer,
  EnrolBody,
  Health,
  json,
  ListQuery,
  LogsQuery,
  Port,
  problem,
  RefParams,
  SystemStats,
} from './schemas.ts';

export const AGENT_API_VERSION = '1.0.0';

export interface AgentAppDeps {
  engine: ContainerEngine;
  keys: KeyStore;
  /** The key read at start-up (undefined until enrolled). */
  initialKey: Uint8Array | undefined;
  enrolmentToken: string | undefined;
  clock: () => Date;
  maxSkewSeconds: number;
  publishHost: string;
  stats: () => Promise<HostStats>;
  logger: Logger;
}

function problemOf(c: Context, status: number, slug: string, detail: string): Response {
  return c.body(
    JSON.stringify({ type: `https://warden.dev/problems/${slug}`, title: slug, status, detail }),
    status as ContentfulStatusCode,
    { 'content-type': 'application/problem+json' },
  );
}

function invalid(result: { success: true } | { success: false; error: ZodError }, c: Context) {
  if (result.success) return undefined;
  const detail = result.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`);
  return problemOf(c, 400, 'validation', detail.join('; '));
}

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

/** A refusal the agent answers with a problem (thrown from a handler, answered by `onError`). */
class AgentRefusal extends Error {
  constructor(
    readonly status: number,
    readonly slug: string,
    detail: string,
  ) {
    super(detail);
  }
}

const ENGINE_STATUS: Record<ContainerEngineError['code'], number> = {
  not_found: 404,
  image_not_found: 404,
  conflict: 409,
  unavailable: 503,
};

const signed = [{ wardenSignature: [] }];

/**
 * The agent's HTTP API, `/v1/…`: enrolment (the one unsigned call besides `/openapi.json`), health,
 * host statistics and the container operations Warden drives. Every other call must be signed with
 * the key enrolment handed out (see `request-auth.ts`).
 */
export function agentApp(deps: AgentAppDeps) {
  let key = deps.initialKey;
  const app = new OpenAPIHono({ defaultHook: invalid });
  const nonces = new NonceLedger((2 * deps.maxSkewSeconds + 5) * 1000);
  app.onError((error, c) => {
    if (error instanceof AgentRefusal) return problemOf(c, error.status, error.slug, error.message);
    if (error instanceof ContainerEngineError)
      return problemOf(c, ENGINE_STATUS[error.code], error.code.replace('_', '-'), error.message);
    deps.logger.error({ err: error }, 'agent request failed');
    return problemOf(c, 500, 'internal', 'unexpected error');
  });
  app.notFound((c) =>
    problemOf(c, 404, 'not-found', `no route ${c.req.method} ${new URL(c.req.url).pathname}`),
  );
  app.openAPIRegistry.registerComponent('securitySchemes', 'wardenSignature', {
    type: 'apiKey',
    in: 'header',
    name: 'x-warden-signature',
    description:
      'HMAC-SHA256 with the agent key over "WARDEN-AGENT-HMAC-SHA256\\nMETHOD\\npath?query\\nsha256(body) hex\\ntimestamp\\nnonce", with x-warden-timestamp (Unix seconds) and x-warden-nonce (hex) headers',
  });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/enrol',
      tags: ['Enrolment'],
      summary: 'Exchange the enrolment token, once, for the agent key that signs every later call',
      request: { body: { content: { 'application/json': { schema: EnrolBody } }, required: true } },
      responses: {
        201: json(EnrolAnswer, 'Enrolled: the key is shown this once'),
        401: problem('Wrong enrolment token'),
        409: problem('Already enrolled: the token is spent'),
      },
    }),
    async (c) => {
      const { token } = c.req.valid('json');
      if (key) throw new AgentRefusal(409, 'agent-already-enrolled', 'the agent is already enrolled');
      const expected = deps.enrolmentToken;
      if (!expected || sha256Hex(token) !== sha256Hex(expected)) {
        throw new AgentRefusal(401, 'agent-bad-enrolment-token', 'the enrolment token is not this agent’s');
      }
      const fresh = crypto.getRandomValues(new Uint8Array(32));
      const at = deps.clock();
      if (!(await deps.keys.writeOnce(fresh, at))) {
        throw new AgentRefusal(409, 'agent-already-enrolled', 'the agent is already enrolled');
      }
      key = fresh;
      deps.logger.info('agent enrolled');
      return c.json({ agent_key: encodeKey(fresh), enrolled_at: at.toISOString() }, 201);
    },
  );

  app.use(
    '/v1/*',
    requireSignature({ key: () => key, clock: deps.clock, maxSkewSeconds: deps.maxSkewSeconds, nonces }),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/health',
      tags: ['Host'],
      summary: 'Alive, and whether the Docker Engine answers',
      security: signed,
      responses: { 200: json(Health, 'Health'), 401: problem('Not signed, stale or replayed') },
    }),
    async (c) => {
      const docker = await deps.engine.ping();
      return c.json(
        {
          status: docker ? ('ok' as const) : ('degraded' as const),
          docker: docker ? ('up' as const) : ('down' as const),
          version: AGENT_API_VERSION,
          time: deps.clock().toISOString(),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/system',
      tags: ['Host'],
      summary: 'CPU, memory, disk and container counts of the host',
      security: signed,
      responses: { 200: json(SystemStats, 'Statistics'), 401: problem('Not signed, stale or replayed') },
    }),
    async (c) => {
      const [host, containers] = await Promise.all([deps.stats(), deps.engine.counts()]);
      return c.json({ ...host, containers }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/containers',
      tags: ['Containers'],
      summary: 'Create a container (or find the one already named so: creating is idempotent by name)',
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
      await deps.engine.remove(c.req.valid('param').ref, {
        volumes: c.req.valid('query').volumes === 'true',
      });
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

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Warden workspace agent', version: AGENT_API_VERSION },
  });
  return app;
}
