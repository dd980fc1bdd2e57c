import { readFileSync } from 'node:fs';
import PQueue from 'p-queue';
import { MICROS_PER_TICK, statTicks } from './cpu.ts';
import type { Send } from './http-client.ts';

/** A confidential client of one tenant, as the token endpoint sees it (client_secret_basic). */
export interface BenchClient {
  slug: string;
  clientId: string;
  authorization: string;
}

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

const SCOPE = 'packages:read';

async function expectOk(res: Response, what: string): Promise<Response> {
  if (!res.ok) throw new Error(`${what} answered ${res.status}: ${await res.text()}`);
  return res;
}

/** Platform call as the superadmin (JSON). */
export async function adminCall(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/**
 * Creates tenants through `POST /v1/tenants` (the tenancy commands, as any operator would),
 * `concurrency` at a time, then waits until tenant resolution's read model holds the last of them.
 */
export async function createTenants(
  base: string,
  token: string,
  slugs: readonly string[],
  concurrency: number,
): Promise<void> {
  const queue = new PQueue({ concurrency });
  let newest = 0n;
  await queue.addAll(
    slugs.map((slug) => async () => {
      const res = await expectOk(
        await adminCall(base, token, 'POST', '/v1/tenants', { slug, name: slug, plan: 'free' }),
        `POST /v1/tenants ${slug}`,
      );
      const position = BigInt(res.headers.get('x-position') ?? '0');
      await res.arrayBuffer();
      if (position > newest) newest = position;
    }),
  );
  // Read-your-writes: the list (tenant resolution's read model) waits, bounded, for the newest position.
  const deadline = Date.now() + 120_000;
  for (;;) {
    const res = await adminCall(base, token, 'GET', '/v1/tenants?limit=1', undefined, {
      'x-min-position': newest.toString(),
    });
    if (res.ok) {
      await res.arrayBuffer();
      break;
    }
    if (Date.now() > deadline) throw new Error(`tenant list did not reach ${newest}: ${res.status}`);
    await res.arrayBuffer();
  }
}

/** A confidential client-credentials client in each tenant, registered through `/v1/oauth/clients`. */
export async function createClients(
  base: string,
  token: string,
  slugs: readonly string[],
  concurrency: number,
): Promise<BenchClient[]> {
  const queue = new PQueue({ concurrency });
  const clients = await queue.addAll(
    slugs.map((slug) => async () => {
      const res = await expectOk(
        await adminCall(base, token, 'POST', `/t/${slug}/v1/oauth/clients`, {
          name: 'Bench service',
          type: 'confidential',
          grant_types: ['client_credentials'],
          scopes: [SCOPE],
        }),
        `POST /t/${slug}/v1/oauth/clients`,
      );
      const body = (await res.json()) as { client_id: string; client_secret: string };
      return { slug, clientId: body.client_id, authorization: basic(body.client_id, body.client_secret) };
    }),
  );
  return clients;
}

/** One client-credentials grant; the access token. */
export async function clientCredentials(send: Send, client: BenchClient): Promise<string> {
  const res = await send(`/t/${client.slug}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: client.authorization },
    body: `grant_type=client_credentials&scope=${encodeURIComponent(SCOPE)}`,
  });
  if (res.status !== 200) throw new Error(`token endpoint answered ${res.status}: ${res.text}`);
  return (JSON.parse(res.text) as { access_token: string }).access_token;
}

/** One introspection (RFC 7662) that must find the token active. */
export async function introspect(send: Send, client: BenchClient, token: string): Promise<void> {
  const res = await send(`/t/${client.slug}/oauth/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: client.authorization },
    body: `token=${encodeURIComponent(token)}&token_type_hint=access_token`,
  });
  if (res.status !== 200) throw new Error(`introspection answered ${res.status}: ${res.text}`);
  const body = JSON.parse(res.text) as { active: boolean };
  if (!body.active) throw new Error('introspection found a fresh token inactive');
}

/** Resident memory of a process now and at its peak, in MB (Linux /proc). */
export function rssMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** CPU time (user + system) a process has used so far, in µs (Linux /proc, clock ticks of 10 ms). */
export function cpuMicros(pid: number): number {
  const stat = statTicks(`/proc/${pid}/stat`);
  if (!stat) throw new Error(`no process ${pid}`);
  return stat.ticks * MICROS_PER_TICK;
}
