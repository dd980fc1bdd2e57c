import type { BuildOptions } from '../../commands/workspaces/index.ts';
import { decodeKey, signatureHeaders, UNSIGNED_PAYLOAD } from '../signing.ts';

/** An answer from an agent that was not what the call expects: its status and problem detail. */
export class AgentCallError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    detail: string,
  ) {
    super(detail);
    this.name = 'AgentCallError';
  }
}

export interface AgentContainer {
  id: string;
  name: string;
  image: string;
  state: string;
  running: boolean;
  labels: Record<string, string>;
  ports: Array<{ container_port: number; host_ip: string; host_port: number }>;
  created_at: string;
}

export interface CreateContainerRequest {
  name: string;
  image: string;
  cmd?: string[];
  env?: Record<string, string>;
  ports?: number[];
  cpus?: number;
  memory_mb?: number;
  labels?: Record<string, string>;
  /** Credentials to pull the image with, when the host lacks it and it names a registry host. */
  registry_auth?: AgentRegistryAuth;
}

export interface AgentRegistryAuth {
  username: string;
  password: string;
  server_address: string;
}

/** Splits a byte stream into text lines (UTF-8), the last one even without a newline. */
async function* linesOf(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    rest += decoder.decode(chunk, { stream: true });
    let newline = rest.indexOf('\n');
    while (newline >= 0) {
      yield rest.slice(0, newline);
      rest = rest.slice(newline + 1);
      newline = rest.indexOf('\n');
    }
  }
  rest += decoder.decode();
  if (rest !== '') yield rest;
}

/** How an agent streams a long call's lines, then its outcome. */
const NDJSON = 'application/x-ndjson';

/**
 * Reads a long call's NDJSON answer (a build's, a push's): each `{"stream"}` line to `onLine` as it
 * arrives, then its `{"done"}`; an `{"error"}` is an AgentCallError 422, an answer that ends without
 * either a 502, and any other answer the agent's problem.
 */
async function outcomeOf<T>(
  response: Response,
  onLine: (line: string) => void,
  call: 'build' | 'push',
): Promise<T> {
  if (response.status !== 200 || !response.body) throw await failure(response);
  for await (const text of linesOf(response.body)) {
    if (text.trim() === '') continue;
    const line = JSON.parse(text) as { stream?: string; done?: T; error?: string };
    if (line.stream !== undefined) onLine(line.stream);
    else if (line.done) return line.done;
    else if (line.error !== undefined) throw new AgentCallError(422, `${call}-failed`, line.error);
  }
  throw new AgentCallError(
    502,
    `${call}-interrupted`,
    `the agent ended the ${call} stream without an outcome`,
  );
}

export interface AgentClientOptions {
  /** The agent's base URL, e.g. `http://10.0.0.5:7070`. */
  url: string;
  /** The key the agent handed out at enrolment (base64url). */
  key: string;
  clock?: () => Date;
  /** Per-call timeout. */
  timeoutMs?: number;
  /** How long an image build may stream (default 30 minutes). */
  buildTimeoutMs?: number;
}

/** The longest `detail` of an agent's problem carried on (into a failure's reason, a 422's detail). */
const DETAIL_MAX = 500;

/**
 * An agent's refusal as an error: its problem document's type and detail. Anything else (a redirect,
 * an HTML page, a service that is no agent) is named by its status alone: an agent's URL is its
 * tenant's to set, and the body of whatever answers there must not come back to them through Warden.
 */
export function agentFailure(status: number, text: string): AgentCallError {
  let problem: { type?: unknown; detail?: unknown } | undefined;
  try {
    problem = JSON.parse(text) as { type?: unknown; detail?: unknown };
  } catch {
    problem = undefined;
  }
  if (problem && typeof problem === 'object' && typeof problem.detail === 'string') {
    return new AgentCallError(
      status,
      typeof problem.type === 'string' ? problem.type.slice(0, 200) : '',
      problem.detail.slice(0, DETAIL_MAX),
    );
  }
  return new AgentCallError(status, '', `the agent answered ${status} without a problem document`);
}

async function failure(response: Response): Promise<AgentCallError> {
  return agentFailure(response.status, await response.text().catch(() => ''));
}

/** Exchanges the agent's enrolment token (once) for its key. */
export async function enrolAgent(url: string, token: string): Promise<{ key: string; enrolledAt: string }> {
  const response = await fetch(new URL('/v1/enrol', url), {
    method: 'POST',
    // An agent never redirects: a 3xx is a refusal, not an address to send the request on to.
    redirect: 'manual',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
    signal: AbortSignal.timeout(10_000),
  });
  if (response.status !== 201) throw await failure(response);
  const body = (await response.json()) as { agent_key: string; enrolled_at: string };
  return { key: body.agent_key, enrolledAt: body.enrolled_at };
}

/** How long a build may run before Warden gives up on its stream. */
const buildTimeoutOf = (options: AgentClientOptions) => options.buildTimeoutMs ?? 30 * 60_000;

/** Warden's side of the agent API: every call signed with the agent's key. */
export function agentClient(options: AgentClientOptions) {
  const key = decodeKey(options.key);
  const clock = options.clock ?? (() => new Date());
  const call = async (
    method: string,
    target: string,
    body?: unknown,
    extra: Record<string, string> = {},
  ): Promise<Response> => {
    const bytes = body === undefined ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(body));
    const headers: Record<string, string> = {
      ...extra,
      ...signatureHeaders(key, { method, target, body: bytes }, clock()),
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return fetch(new URL(target, options.url), {
      method,
      headers,
      ...(body === undefined ? {} : { body: bytes }),
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
  };
  const expect = async <T>(response: Response, ...ok: number[]): Promise<T> => {
    if (!ok.includes(response.status)) throw await failure(response);
    return (await response.json()) as T;
  };
  const ref = (name: string) => `/v1/containers/${encodeURIComponent(name)}`;
  return {
    call,
    health: async () =>
      expect<{ status: string; docker: string; version: string; time: string }>(
        await call('GET', '/v1/health'),
        200,
      ),
    system: async () =>
      expect<{
        cpu: { cores: number; load1: number };
        memory: { total_bytes: number; free_bytes: number };
        disk: { total_bytes: number; free_bytes: number };
        containers: { total: number; running: number; images: number };
      }>(await call('GET', '/v1/system'), 200),
    create: async (request: CreateContainerRequest) =>
      expect<{ id: string; name: string; created: boolean }>(
        await call('POST', '/v1/containers', request),
        200,
        201,
      ),
    list: async (labels: string[] = []) => {
      const query = labels.map((label) => `label=${encodeURIComponent(label)}`).join('&');
      return expect<{ items: AgentContainer[] }>(
        await call('GET', `/v1/containers${query ? `?${query}` : ''}`),
        200,
      );
    },
    /** The image as the agent's host holds it, or undefined when the host has no such image. */
    image: async (ref: string) => {
      const response = await call('GET', `/v1/images/${encodeURIComponent(ref)}`);
      if (response.status === 404) {
        await response.body?.cancel();
        return undefined;
      }
      return expect<{ ref: string; id: string; tags: string[] }>(response, 200);
    },
    /**
     * Whether the host holds the image, for a decision that must not be taken on a guess: false only
     * when the agent answers its engine's own 404 (`image-not-found`). Any other answer (another 404,
     * a wrong route, an engine that does not answer) or none at all is an AgentCallError or a
     * network error.
     */
    holdsImage: async (ref: string): Promise<boolean> => {
      const response = await call('GET', `/v1/images/${encodeURIComponent(ref)}`);
      if (response.status === 200) {
        await response.body?.cancel();
        return true;
      }
      const refused = await failure(response);
      // An agent of an earlier build spells the slug `image-not_found`.
      if (refused.status === 404 && /\/image-not[-_]found$/.test(refused.type)) return false;
      throw refused;
    },
    /**
     * Stages a tar build context on the agent: `body` streams through (signed over
     * `UNSIGNED-PAYLOAD`), the agent writes it to disk and answers its size and SHA-256. No timeout
     * but `signal`: a large context takes its time.
     */
    stageContext: async (id: string, body: ReadableStream<Uint8Array>, signal?: AbortSignal) => {
      const target = `/v1/images/contexts/${encodeURIComponent(id)}`;
      const headers = signatureHeaders(key, { method: 'PUT', target, body: UNSIGNED_PAYLOAD }, clock());
      const response = await fetch(new URL(target, options.url), {
        method: 'PUT',
        headers: { ...headers, 'content-type': 'application/x-tar' },
        body,
        duplex: 'half',
        redirect: 'manual',
        ...(signal ? { signal } : {}),
      } as RequestInit);
      return expect<{ id: string; size: number; sha256: string }>(response, 201);
    },
    /** Deletes a staged context (true when it was there or already gone). */
    removeContext: async (id: string) => {
      const response = await call('DELETE', `/v1/images/contexts/${encodeURIComponent(id)}`);
      await response.body?.cancel();
      return response.status === 204;
    },
    /**
     * Builds an image on the agent from a staged context (named by id and SHA-256), tagged `tag`:
     * each line of the build's output to `onLine` as it arrives; the image id, or an AgentCallError
     * (422 for a failing build). Aborting `signal` drops the call, which stops the agent's build.
     */
    buildImage: async (
      build: { context: string; sha256: string; tag: string; dockerfile: string } & BuildOptions,
      onLine: (line: string) => void,
      signal?: AbortSignal,
    ): Promise<{ id: string }> => {
      const query = new URLSearchParams({
        tag: build.tag,
        dockerfile: build.dockerfile,
        context: build.context,
        sha256: build.sha256,
      });
      // In the signed target too: what the engine is asked is what Warden signed.
      if (build.buildArgs) query.set('build_args', JSON.stringify(build.buildArgs));
      if (build.target) query.set('target', build.target);
      if (build.noCache) query.set('no_cache', 'true');
      const target = `/v1/images/build?${query}`;
      const headers = signatureHeaders(key, { method: 'POST', target, body: new Uint8Array() }, clock());
      const timeout = AbortSignal.timeout(buildTimeoutOf(options));
      const response = await fetch(new URL(target, options.url), {
        method: 'POST',
        headers,
        redirect: 'manual',
        // A build takes its time: bounded by the build's own limit, not a call's.
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      return outcomeOf<{ id: string }>(response, onLine, 'build');
    },
    /**
     * Tags `source` as `target` on the agent and pushes it with the credentials given: each line of
     * the push's output to `onLine` as the engine reports it (an agent of an earlier build answers
     * them all at once, at the end); the digest, or an AgentCallError (422 for a refused push).
     */
    pushImage: async (
      request: { source: string; target: string; auth?: AgentRegistryAuth },
      onLine: (line: string) => void,
    ): Promise<{ digest: string | null }> => {
      const response = await call('POST', '/v1/images/push', request, {
        accept: `${NDJSON}, application/json;q=0.5`,
      });
      if (response.status === 200 && response.headers.get('content-type')?.startsWith(NDJSON)) {
        return outcomeOf<{ digest: string | null }>(response, onLine, 'push');
      }
      const pushed = await expect<{ digest: string | null; output?: string }>(response, 200);
      if (pushed.output) onLine(pushed.output);
      return { digest: pushed.digest };
    },
    /** Removes the image tag from the agent's host; false when it was not there. */
    removeImage: async (image: string) => {
      const response = await call('DELETE', `/v1/images/${encodeURIComponent(image)}`);
      if (response.status === 204) return true;
      if (response.status === 404) {
        await response.body?.cancel();
        return false;
      }
      throw await failure(response);
    },
    inspect: async (name: string) => expect<AgentContainer>(await call('GET', ref(name)), 200),
    start: async (name: string) => expect<AgentContainer>(await call('POST', `${ref(name)}/start`), 200),
    stop: async (name: string) => expect<AgentContainer>(await call('POST', `${ref(name)}/stop`), 200),
    ports: async (name: string) =>
      expect<AgentContainer['ports']>(await call('GET', `${ref(name)}/ports`), 200),
    logs: async (name: string, tail = 200) => {
      const response = await call('GET', `${ref(name)}/logs?tail=${tail}`);
      if (response.status !== 200) throw await failure(response);
      return response.text();
    },
    /** Removes the container; true when it was there, false when it already was not. */
    remove: async (name: string, options: { volumes?: boolean } = {}) => {
      const response = await call('DELETE', `${ref(name)}?volumes=${options.volumes === true}`);
      if (response.status === 204) return true;
      if (response.status === 404) {
        await response.body?.cancel();
        return false;
      }
      throw await failure(response);
    },
  };
}

export type AgentClient = ReturnType<typeof agentClient>;
