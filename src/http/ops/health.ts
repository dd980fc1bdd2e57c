import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { z } from 'zod';
import type { AppEnv } from '../kit/index.ts';
import { jsonContent } from '../kit/index.ts';

/** A readiness check: the store answers, the database answers, projections are within their lag bound. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<{ ok: boolean; detail?: unknown }>;
}

const Health = z.object({ status: z.literal('ok') });
const Ready = z.object({
  status: z.enum(['ready', 'not_ready']),
  checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.unknown().optional() })),
});

/** `/health` says the process is alive; `/ready` says it can serve (load balancers route on it). */
export function healthRoutes(checks: readonly ReadinessCheck[]) {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/health',
      tags: ['Operations'],
      summary: 'Liveness',
      responses: { 200: jsonContent(Health, 'Alive') },
    }),
    (c) => c.json({ status: 'ok' as const }, 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/ready',
      tags: ['Operations'],
      summary: 'Readiness: store, database and projections',
      responses: { 200: jsonContent(Ready, 'Ready'), 503: jsonContent(Ready, 'Not ready') },
    }),
    async (c) => {
      const results = await Promise.all(
        checks.map(async ({ name, check }) => {
          try {
            const result = await withTimeout(check(), 2000);
            return { name, ...result };
          } catch (error) {
            return { name, ok: false, detail: (error as Error).message };
          }
        }),
      );
      const ok = results.every((r) => r.ok);
      return c.json(
        { status: ok ? ('ready' as const) : ('not_ready' as const), checks: results },
        ok ? 200 : 503,
      );
    },
  );
  return app;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
