import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '../../src/processes/runtime/index.ts';
import { enqueue } from '../../src/processes/runtime/jobs/queue.ts';
import { serviceWorkers } from '../processes/support.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

/** Prometheus text → `name{labels}` → value (comments skipped). */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

describe('/metrics', () => {
  let t: TestApp;
  let worker: Worker;
  beforeAll(async () => {
    t = await testApp(freshPGlite);
    worker = await serviceWorkers(t);
  });
  afterAll(async () => {
    await worker?.stop();
    await t?.dispose();
  });

  it('counts HTTP requests by route pattern and status with a latency histogram, appends, projection lag, queues and workers', async () => {
    const lead = await t.user({ role: 'admin' });
    for (const key of ['MTRA', 'MTRB']) {
      const res = await t.request('/v1/projects', {
        token: lead.token,
        tenant: lead.tenantSlug,
        json: { key, name: key },
      });
      expect(res.status).toBe(201);
    }
    const project = await t.request('/v1/projects/MTRA', { token: lead.token, tenant: lead.tenantSlug });
    expect(project.status).toBe(200);
    expect((await t.request('/v1/nowhere', { token: lead.token, tenant: lead.tenantSlug })).status).toBe(404);
    await enqueue(t.database.db as never, [
      { id: 'metrics-job', queue: 'packages', kind: 'publish', subject: 'x' },
    ]);

    const res = await t.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const samples = parse(await res.text());
    expect(samples.get('warden_http_requests_total{method="POST",route="/v1/projects",status="201"}')).toBe(
      2,
    );
    // The route pattern, not the path: project ids and keys never become labels.
    expect(
      samples.get('warden_http_requests_total{method="GET",route="/v1/projects/:id",status="200"}'),
    ).toBe(1);
    expect([...samples.keys()].some((k) => k.includes('MTRA'))).toBe(false);
    expect(samples.get('warden_http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1);
    expect(
      samples.get('warden_http_request_duration_seconds_count{method="POST",route="/v1/projects"}'),
    ).toBe(2);
    expect(
      samples.get(
        'warden_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/v1/projects"}',
      ),
    ).toBe(2);
    expect(samples.get('warden_events_appended_total{context="tracker"}')).toBeGreaterThanOrEqual(2);
    expect(samples.get('warden_append_duration_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(samples.has('warden_projection_lag_events{projection="projectList"}')).toBe(true);
    expect(samples.get('warden_projection_state{projection="projectList",state="live"}')).toBe(1);
    expect(samples.get('warden_job_queue_depth{queue="packages",kind="publish",state="due"}')).toBe(1);
    const heartbeat = samples.get(`warden_worker_heartbeat_age_seconds{worker="${worker.id}",state="live"}`);
    expect(heartbeat).toBeGreaterThanOrEqual(0);
    expect(heartbeat).toBeLessThan(10);
  });

  it('answers only the configured bearer token when WARDEN_METRICS_TOKEN is set', async () => {
    const token = 'metrics-token-0123456789';
    const guarded = t.variant({ config: { ...t.config, WARDEN_METRICS_TOKEN: token } });
    expect((await guarded('/metrics')).status).toBe(401);
    expect(
      (await guarded('/metrics', { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status,
    ).toBe(401);
    expect((await guarded('/metrics', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });
});
