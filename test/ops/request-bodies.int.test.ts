import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, testApp } from '../support/app.ts';
import { freshPGlite } from '../support/databases.ts';

/** A POST over a real socket, its body sent in chunks with no Content-Length (so only counting stops it). */
function chunkedPost(base: string, path: string, headers: Record<string, string>, chunks: string[]) {
  return new Promise<{ status: number; type: string | undefined; body: string }>((resolve, reject) => {
    const request = http.request(`${base}${path}`, { method: 'POST', headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, type: response.headers['content-type'], body }),
      );
    });
    // The server may stop reading and answer before every chunk is sent: the answer is what counts.
    request.on('error', (error) => (String(error).includes('EPIPE') ? undefined : reject(error)));
    for (const chunk of chunks) request.write(chunk);
    request.end();
  });
}

/**
 * On Node the JSON and form bodies are read from the socket's own stream (no web `Request` is built
 * for them): over real HTTP they still reach the handlers whole, and a body past the limit is a 413
 * whether or not it declares its length, with nothing recorded.
 */
describe('request bodies over a real socket', () => {
  let t: TestApp;
  let server: Awaited<ReturnType<TestApp['listening']>>;
  let slug: string;
  beforeAll(async () => {
    t = await testApp(freshPGlite, { env: { WARDEN_BODY_LIMIT_BYTES: '4096' } });
    server = await t.listening();
    slug = (await t.tenant()).slug;
  });
  afterAll(async () => {
    await server?.close();
    await t?.dispose();
  });

  it('hands a JSON body to the handler whole, sent at once or in chunks', async () => {
    const res = await server.request('/v1/auth/register', {
      tenant: slug,
      json: { email: 'whole@example.com', password: 'plum-orbit-kettle-47', name: 'Whole' },
    });
    expect(res.status).toBe(202);
    const json = JSON.stringify({ email: 'chunks@example.com', password: 'plum-orbit-kettle-47', name: 'C' });
    const chunked = await chunkedPost(
      server.base,
      '/v1/auth/register',
      { 'content-type': 'application/json', 'x-tenant': slug },
      [json.slice(0, 10), json.slice(10, 30), json.slice(30)],
    );
    expect(chunked.status).toBe(202);
  });

  it('refuses a JSON body past the limit with 413, declared or only counted, and records nothing', async () => {
    const big = { email: 'big@example.com', password: 'x'.repeat(20), name: 'n'.repeat(8000) };
    const declared = await server.request('/v1/auth/register', { tenant: slug, json: big });
    expect(declared.status).toBe(413);
    const text = JSON.stringify(big);
    const counted = await chunkedPost(
      server.base,
      '/v1/auth/register',
      { 'content-type': 'application/json', 'x-tenant': slug },
      [text.slice(0, 3000), text.slice(3000)],
    );
    expect(counted).toMatchObject({ status: 413, type: 'application/problem+json' });
    expect(JSON.parse(counted.body)).toMatchObject({ status: 413 });
    const registered = (await t.store.readAll()).filter((e) => e.type === 'UserRegistered');
    expect(registered.map((e) => (e.data as { email?: string }).email)).not.toContain('big@example.com');
  });

  it('answers an empty JSON body with the validator’s field errors, not a hang or a 500', async () => {
    const res = await server.request('/v1/auth/register', {
      tenant: slug,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
  });

  it('parses an OAuth form sent in chunks, and refuses one past the form limit with 413', async () => {
    const form = await chunkedPost(
      server.base,
      `/t/${slug}/oauth/token`,
      { 'content-type': 'application/x-www-form-urlencoded' },
      ['grant_type=client_', 'credentials&client_id=', '00000000-0000-4000-8000-000000000000'],
    );
    // The form was read whole: the client it names is looked up (and unknown), not "grant_type missing".
    expect(form.status).toBe(401);
    expect(JSON.parse(form.body)).toMatchObject({ error: 'invalid_client' });
    const huge = await chunkedPost(
      server.base,
      `/t/${slug}/oauth/token`,
      { 'content-type': 'application/x-www-form-urlencoded' },
      [`grant_type=client_credentials&pad=${'a'.repeat(3000)}`, 'a'.repeat(3000)],
    );
    expect(huge.status).toBe(413);
  });
});
