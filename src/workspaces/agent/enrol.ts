import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { sha256Hex } from '../../crypto/digest.ts';
import { encodeKey } from '../signing.ts';
import type { AgentAppDeps } from './app-deps.ts';
import { AgentRefusal, invalid } from './problems.ts';
import { EnrolAnswer, EnrolBody, json, problem } from './schemas.ts';

/** The agent key, held by the app: undefined until enrolment sets it, once. */
export interface AgentKeyHolder {
  get(): Uint8Array | undefined;
  set(key: Uint8Array): void;
}

/** `POST /v1/enrol`: the one unsigned call, which hands out the key that signs every later one. */
export function enrolRoutes(deps: AgentAppDeps, agentKey: AgentKeyHolder) {
  const app = new OpenAPIHono({ defaultHook: invalid });

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
      if (agentKey.get())
        throw new AgentRefusal(409, 'agent-already-enrolled', 'the agent is already enrolled');
      const expected = deps.enrolmentToken;
      if (!expected || sha256Hex(token) !== sha256Hex(expected)) {
        throw new AgentRefusal(401, 'agent-bad-enrolment-token', 'the enrolment token is not this agent’s');
      }
      const fresh = crypto.getRandomValues(new Uint8Array(32));
      const at = deps.clock();
      if (!(await deps.keys.writeOnce(fresh, at))) {
        throw new AgentRefusal(409, 'agent-already-enrolled', 'the agent is already enrolled');
      }
      agentKey.set(fresh);
      deps.logger.info('agent enrolled');
      return c.json({ agent_key: encodeKey(fresh), enrolled_at: at.toISOString() }, 201);
    },
  );
  return app;
}
