import { Hono } from 'hono';
import { describe, expect, it, vi } from 'vitest';
import type { AppEnv } from '../../src/http/kit/index.ts';
import { requestContext } from '../../src/http/middleware/request-context.ts';
import { createLogger } from '../../src/logger.ts';

/** An app with only the request context in front of two routes: one logs through the request's logger. */
function appLogging(level: string) {
  const lines: string[] = [];
  const logger = createLogger(level, { write: (line) => void lines.push(line) });
  const child = vi.spyOn(logger, 'child');
  const app = new Hono<AppEnv>();
  app.use('*', requestContext(logger));
  app.get('/quiet', (c) => c.text('ok'));
  app.get('/talks', (c) => {
    const log = c.get('logger')();
    expect(c.get('logger')()).toBe(log); // one child per request, however often asked for
    log.info({ password: 'hunter2-password', body: { token: 'tok-secret-value' } }, 'handled');
    return c.text('ok');
  });
  app.get('/fails', (c) => c.text('broken', 500));
  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { app, lines, parsed, child };
}

describe('request logging', () => {
  it('writes one access line per request, with the id first as a child logger would, and makes no child for a request that logs nothing', async () => {
    const { app, parsed, lines, child } = appLogging('info');
    const res = await app.request('/quiet', { headers: { 'x-request-id': 'log-1' } });
    expect(res.headers.get('x-request-id')).toBe('log-1');
    expect(parsed()).toEqual([
      {
        level: 30,
        time: expect.any(Number),
        service: 'warden',
        requestId: 'log-1',
        method: 'GET',
        path: '/quiet',
        status: 200,
        durationMs: expect.any(Number),
        msg: 'request',
      },
    ]);
    // Field for field in the order a child's line has them (its bindings come before the object's).
    expect(Object.keys(parsed()[0]!)).toEqual([
      'level',
      'time',
      'service',
      'requestId',
      'method',
      'path',
      'status',
      'durationMs',
      'msg',
    ]);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    expect(child).not.toHaveBeenCalled();
  });

  it("gives a handler a logger carrying the request's id, whose lines are still redacted", async () => {
    const { app, parsed, lines, child } = appLogging('info');
    await app.request('/talks', { headers: { 'x-request-id': 'log-2' } });
    expect(child).toHaveBeenCalledTimes(1);
    const [handled, access] = parsed();
    expect(handled).toMatchObject({ requestId: 'log-2', msg: 'handled', password: '[redacted]' });
    expect(access).toMatchObject({ requestId: 'log-2', msg: 'request', path: '/talks' });
    for (const secret of ['hunter2-password', 'tok-secret-value']) {
      expect(lines.join('')).not.toContain(secret);
    }
  });

  it('keeps to the level: at warn a success writes nothing and a 5xx still writes its line', async () => {
    const { app, parsed } = appLogging('warn');
    await app.request('/quiet');
    expect(parsed()).toEqual([]);
    await app.request('/fails', { headers: { 'x-request-id': 'log-3' } });
    expect(parsed()).toEqual([
      expect.objectContaining({ level: 50, requestId: 'log-3', status: 500, msg: 'request failed' }),
    ]);
  });

  it('writes pretty lines through the same sink when the logger is pretty', async () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line) => void lines.push(line) }, 'pretty');
    const app = new Hono<AppEnv>();
    app.use('*', requestContext(logger));
    app.get('/quiet', (c) => c.text('ok'));
    await app.request('/quiet', { headers: { 'x-request-id': 'log-4' } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/INFO.*request/);
    expect(lines[0]).toContain('log-4');
    expect(lines[0]!.trimStart().startsWith('{')).toBe(false);
  });
});
