import { OpenAPIHono } from '@hono/zod-openapi';
import { ContainerEngineError } from '../docker/port.ts';
import { AGENT_API_VERSION, type AgentAppDeps } from './app-deps.ts';
import { BuildContextStore } from './build-contexts.ts';
import { containerRoutes } from './containers.ts';
import { enrolRoutes } from './enrol.ts';
import { hostRoutes } from './host.ts';
import { imageRoutes, streamsContextBody } from './images.ts';
import { AgentRefusal, ENGINE_STATUS, invalid, problemOf } from './problems.ts';
import { NonceLedger, requireSignature } from './request-auth.ts';
import { UploadStore } from './upload-store.ts';
import { streamsUploadBody, uploadRoutes } from './uploads.ts';

export { AGENT_API_VERSION, type AgentAppDeps } from './app-deps.ts';

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
      return problemOf(c, ENGINE_STATUS[error.code], error.code.replaceAll('_', '-'), error.message);
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

  // Enrolment comes before the signature check, so it is the one route that runs unsigned.
  app.route(
    '/',
    enrolRoutes(deps, {
      get: () => key,
      set: (fresh) => {
        key = fresh;
      },
    }),
  );
  app.use(
    '/v1/*',
    requireSignature({
      key: () => key,
      clock: deps.clock,
      maxSkewSeconds: deps.maxSkewSeconds,
      nonces,
      streamsBody: (method, pathname) =>
        streamsUploadBody(method, pathname) || streamsContextBody(method, pathname),
    }),
  );

  app.route('/', hostRoutes(deps));
  app.route('/', containerRoutes(deps));
  app.route('/', imageRoutes(deps, new BuildContextStore(deps.workDir)));
  app.route('/', uploadRoutes(new UploadStore(deps.workDir)));

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Warden workspace agent', version: AGENT_API_VERSION },
  });
  return app;
}
