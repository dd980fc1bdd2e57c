import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  changePackage,
  defaultPolicy,
  packageIdFor,
  packageStreamId,
  requestStreamId,
} from '../../src/commands/packages/index.ts';
import { importOsv } from '../../src/packages/osv-import.ts';
import { stageDeps } from '../../src/processes/packages/jobs.ts';
import { packagePipeline } from '../../src/processes/packages/pipeline.ts';
import { processPackage, publishPackage, recordFailure } from '../../src/processes/packages/stages.ts';
import { processContext } from '../../src/processes/runtime/index.ts';
import type { Job } from '../../src/processes/runtime/jobs/queue.ts';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { publishFixture } from '../support/fixture-packages.ts';
import { type Registry, startVerdaccio } from '../support/verdaccio.ts';

describe('publishing exactly once', () => {
  let t: TestApp;
  let upstream: Registry;
  let target: Registry;
  const signal = new AbortController().signal;

  beforeAll(async () => {
    [upstream, target] = await Promise.all([startVerdaccio(), startVerdaccio()]);
    t = await testApp(freshPGlite, {
      env: {
        WARDEN_UPSTREAM_REGISTRY: upstream.url,
        WARDEN_TARGET_REGISTRY: target.url,
        WARDEN_TARGET_REGISTRY_TOKEN: target.token,
      },
    });
  }, 60_000);
  afterAll(async () => {
    await t?.dispose();
    await Promise.all([upstream?.stop(), target?.stop()]);
  });

  /** Submits one package and lets the pipeline receive it (by hand, no worker); returns its checks job. */
  async function received(name: string): Promise<Job & { userId: string }> {
    const { integrity } = await publishFixture(upstream, { name, version: '1.0.0' });
    const user = await t.user({ role: 'member' });
    const res = await t.request('/v1/package-requests', {
      token: user.token,
      tenant: user.tenantSlug,
      json: {
        lockfileVersion: 3,
        packages: { '': {}, [`node_modules/${name}`]: { version: '1.0.0', integrity } },
      },
    });
    const { id } = (await res.json()) as { id: string };
    const [submitted] = await t.store.readStream(requestStreamId(id));
    await packagePipeline.handle(
      submitted!,
      processContext('packagePipeline', submitted!, {
        store: t.store,
        db: t.database.db as never,
        logger: console,
      }),
    );
    const subject = packageStreamId(await packageIdFor(user.tenantId, `${name}@1.0.0`));
    const job: Job = {
      id: `job-${name}`,
      queue: 'packages',
      kind: 'process',
      tenantId: user.tenantId,
      subject,
      payload: { spec: `${name}@1.0.0`, correlationId: id },
      attempts: 0,
    };
    return { ...job, userId: user.userId };
  }

  /** Submits one package and drives it (by hand, no worker) to `approved`; returns its publish job. */
  async function approved(name: string): Promise<Job> {
    const { userId, ...job } = await received(name);
    await processPackage(stageDeps(t.config, t), job, signal);
    // No advisory data was imported: the scan could not run, so it waits for an approver (fail closed).
    expect((await types(job)).at(-1)).toBe('ApprovalRequired');
    const tenantId = job.tenantId!;
    await changePackage(
      t.store,
      tenantId,
      `${name}@1.0.0`,
      {
        type: 'Approve',
        by: userId,
        reason: 'test',
        policy: { ...defaultPolicy, version: 0 },
        at: new Date().toISOString(),
      },
      { metadata: { tenantId } },
    );
    return { ...job, kind: 'publish' };
  }

  const types = async (job: Job) => (await t.store.readStream(job.subject)).map((e) => e.type);

  it('a worker that dies after the upload and before recording it: the next attempt records it once, as already present', async () => {
    const job = await approved('once-pkg');
    const deps = stageDeps(t.config, t);
    // The upload goes through, then the process "dies" before the event is appended.
    const dying = {
      ...deps,
      publisher: {
        publish: async (input: Parameters<NonNullable<typeof deps.publisher>['publish']>[0]) => {
          await deps.publisher!.publish(input);
          throw new Error('worker killed after the upload');
        },
      },
    };
    await expect(publishPackage(dying, job, signal)).rejects.toThrow('worker killed');
    expect((await types(job)).at(-1)).toBe('PackagePublishing');
    await publishPackage(deps, job, signal);
    await publishPackage(deps, job, signal); // a replayed job changes nothing
    const events = await t.store.readStream(job.subject);
    expect(events.filter((e) => e.type === 'PackagePublishing')).toHaveLength(1);
    const published = events.filter((e) => e.type === 'PackagePublished');
    expect(published).toHaveLength(1);
    expect(published[0]!.data).toMatchObject({ outcome: 'already_present' });
    const packument = (await (await fetch(`${target.url}/once-pkg`)).json()) as {
      versions: Record<string, { dist: { integrity: string } }>;
    };
    expect(Object.keys(packument.versions)).toEqual(['1.0.0']);
    expect(packument.versions['1.0.0']!.dist.integrity).toBe(
      (published[0]!.data as { integrity: string }).integrity,
    );
  });

  it('other bytes already in the target under that version are a conflict: the package fails, nothing is overwritten', async () => {
    const job = await approved('clash-pkg');
    await publishFixture(target, {
      name: 'clash-pkg',
      version: '1.0.0',
      packageJson: { description: 'someone else' },
    });
    const deps = stageDeps(t.config, t);
    const error = await publishPackage(deps, job, signal).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string; retryable?: boolean },
    );
    expect(error).toMatchObject({ code: 'conflict', retryable: false });
    await recordFailure(deps, job, error!, 1);
    const events = await t.store.readStream(job.subject);
    expect(events.at(-1)).toMatchObject({
      type: 'PackageFailed',
      data: { stage: 'publish', code: 'conflict', retryable: false },
    });
  });

  // Last: it imports advisory data, after which clean packages no longer wait for an approver.
  it('a package the policy approves is published by its checks job: the attempt is recorded with the approval, no publishing job is queued, and a worker that dies after the upload leaves the same job to finish it, once', async () => {
    const osv = mkdtempSync(join(tmpdir(), 'warden-osv-once-'));
    writeFileSync(
      join(osv, 'GHSA-none-0001.json'),
      JSON.stringify({
        id: 'GHSA-none-0001',
        modified: '2026-01-01T00:00:00Z',
        affected: [{ package: { ecosystem: 'npm', name: 'unrelated' }, versions: ['1.0.0'] }],
      }),
    );
    await importOsv({ db: t.database.db as never, store: t.store, path: osv });
    rmSync(osv, { recursive: true, force: true });
    const { userId: _, ...job } = await received('inline-pkg');
    const deps = stageDeps(t.config, t);
    const dying = {
      ...deps,
      publisher: {
        publish: async (input: Parameters<NonNullable<typeof deps.publisher>['publish']>[0]) => {
          await deps.publisher!.publish(input);
          throw new Error('worker killed after the upload');
        },
      },
    };
    await expect(processPackage(dying, job, signal)).rejects.toThrow('worker killed');
    expect(await types(job)).toEqual([
      'PackageReceived',
      'PackageProcessingStarted',
      'LicenseChecked',
      'PackageDownloaded',
      'PackageScanned',
      'PackageAutoApproved',
      'PackagePublishing',
    ]);
    const publishJobs = await sql<{ n: number }>`
      select count(*)::int as n from warden_jobs where queue = 'packages-publish' and subject = ${job.subject}`.execute(
      t.database.db,
    );
    expect(publishJobs.rows[0]!.n).toBe(0);
    // The job runs again (its lease ran out): it resumes at the upload, and a third run changes nothing.
    await processPackage(deps, { ...job, attempts: 1 }, signal);
    await processPackage(deps, { ...job, attempts: 2 }, signal);
    const events = await t.store.readStream(job.subject);
    expect(events.filter((e) => e.type === 'PackagePublishing')).toHaveLength(1);
    const published = events.filter((e) => e.type === 'PackagePublished');
    expect(published).toHaveLength(1);
    expect(published[0]!.data).toMatchObject({ outcome: 'already_present' });
    expect((await fetch(`${target.url}/inline-pkg`)).status).toBe(200);
  });
});
