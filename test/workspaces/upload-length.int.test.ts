import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LooseJson, type SignedInUser, type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';
import { metadataHeader } from './tus-client.ts';

/* The tus creation's Upload-Length, read before any agent is asked: no agent or dockerd needed. */
describe('the Upload-Length of a tus creation (POST /v1/uploads)', () => {
  let t: TestApp;
  let operator: SignedInUser;
  beforeAll(async () => {
    t = await testApp(freshPGlite);
    // The free plan: 1 GiB of upload_bytes, so a large declared length meets the quota check.
    const tenant = await t.tenant(undefined, 'free');
    operator = await t.user({ tenant: tenant.slug, role: 'admin' });
  });
  afterAll(async () => {
    await t?.dispose();
  });

  const create = (length: string) =>
    t.request('/v1/uploads', {
      method: 'POST',
      token: operator.token,
      tenant: operator.tenantSlug,
      headers: {
        'tus-resumable': '1.0.0',
        'upload-length': length,
        'upload-metadata': metadataHeader({
          filename: 'disk.img',
          sha256: 'a'.repeat(64),
          agent: crypto.randomUUID(),
        }),
      },
    });
  const uploadEvents = async () =>
    (await t.store.readAll()).filter((e) => e.type.startsWith('Upload')).map((e) => e.id);

  it('refuses a length that is not a canonical byte count of at most 2^53 − 1 (400 naming header.upload-length) and records nothing', async () => {
    const before = await uploadEvents();
    const refused = [
      '9007199254740992', // 2^53: the first integer a JavaScript number cannot tell from its neighbour
      '9007199254740993', // read as 9007199254740992
      '9999999999999999',
      '99999999999999999',
      '0123', // leading zeros: not the canonical form tus itself accepts
      '00',
      '-1',
      '1e3',
      '12.0',
      '0x10',
      '',
    ];
    for (const length of refused) {
      const answer = await create(length);
      expect(answer.status, `Upload-Length ${JSON.stringify(length)}`).toBe(400);
      expect(answer.headers.get('content-type')).toContain('application/problem+json');
      const problem = (await answer.json()) as LooseJson;
      expect(problem.errors).toEqual([expect.objectContaining({ path: 'header.upload-length' })]);
    }
    expect(await uploadEvents()).toEqual(before);
  });

  it('takes the largest safe length exactly: the quota check names it to the byte', async () => {
    const answer = await create('9007199254740991');
    expect(answer.status).toBe(413);
    const problem = (await answer.json()) as LooseJson;
    expect(problem.detail).toBe(
      "the plan's upload_bytes quota is 1073741824 bytes; the upload declares 9007199254740991",
    );
    // 0 is a length like any other: past the header checks, the (unknown) agent is what is refused.
    expect((await create('0')).status).toBe(404);
  });
});
