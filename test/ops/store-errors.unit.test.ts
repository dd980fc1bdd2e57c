import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { InvalidAppendError, InvalidReadError } from '../../src/eventstore/port.ts';
import type { AppEnv } from '../../src/http/kit/index.ts';
import { onError } from '../../src/http/middleware/errors.ts';

describe('the event store’s refusals at the HTTP edge', () => {
  it('answers a refused append or read as 422 problem+json naming the field, never a 500', async () => {
    const app = new Hono<AppEnv>();
    app.onError(onError);
    app.get('/append', () => {
      throw new InvalidAppendError('events[0].data.n', 'is not serialisable (bigint)');
    });
    app.get('/read', () => {
      throw new InvalidReadError('streamId', 'must not contain control characters');
    });
    for (const [path, field] of [
      ['/append', 'events[0].data.n'],
      ['/read', 'streamId'],
    ] as const) {
      const answer = await app.request(path);
      expect(answer.status, path).toBe(422);
      expect(answer.headers.get('content-type'), path).toContain('application/problem+json');
      const body = (await answer.json()) as { errors: { path: string }[] };
      expect(body.errors, path).toEqual([expect.objectContaining({ path: field })]);
    }
  });
});
