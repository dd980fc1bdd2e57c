import { decodeKey, signatureHeaders, UNSIGNED_PAYLOAD } from '../signing.ts';
import { type AgentCallError, agentFailure } from './agent-client.ts';

export interface AgentUploadProgress {
  id: string;
  size: number;
  sha256: string;
  file_name: string;
  workspace?: string;
  path?: string;
  offset: number;
  /** When the last byte arrived (older agents do not say). */
  updated_at?: string;
}

async function failure(response: Response): Promise<AgentCallError> {
  return agentFailure(response.status, await response.text());
}

/**
 * Warden's side of an agent's file store: every call signed with the agent's key; an append streams
 * its body (signed over `UNSIGNED-PAYLOAD`, the bytes checked by the SHA-256 the signed `open` declared).
 */
export function agentUploads(options: { url: string; key: string; clock?: () => Date; timeoutMs?: number }) {
  const key = decodeKey(options.key);
  const clock = options.clock ?? (() => new Date());
  const timeoutMs = options.timeoutMs ?? 30_000;
  const path = (id: string) => `/v1/store/uploads/${encodeURIComponent(id)}`;
  const call = (method: string, target: string, body?: unknown) => {
    const bytes = body === undefined ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(body));
    const headers = signatureHeaders(key, { method, target, body: bytes }, clock());
    return fetch(new URL(target, options.url), {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: bytes }),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  };
  const expect = async <T>(response: Response, ok: number): Promise<T> => {
    if (response.status !== ok) throw await failure(response);
    return (await response.json()) as T;
  };
  return {
    open: async (upload: {
      id: string;
      size: number;
      sha256: string;
      file_name: string;
      /** Into this workspace's data folder, at `path` in it. */
      workspace?: string;
      path?: string;
    }) => expect<AgentUploadProgress>(await call('POST', '/v1/store/uploads', upload), 201),
    /** The upload's progress, or undefined when the agent has no such partial upload. */
    progress: async (id: string) => {
      const response = await call('GET', path(id));
      if (response.status === 404) {
        await response.body?.cancel();
        return undefined;
      }
      return expect<AgentUploadProgress>(response, 200);
    },
    /** Streams `body` to the upload at `offset`; the new offset. No timeout: a large body takes its time. */
    append: async (id: string, offset: number, body: ReadableStream<Uint8Array>) => {
      const target = path(id);
      const headers = signatureHeaders(key, { method: 'PATCH', target, body: UNSIGNED_PAYLOAD }, clock());
      const response = await fetch(new URL(target, options.url), {
        method: 'PATCH',
        headers: {
          ...headers,
          'content-type': 'application/offset+octet-stream',
          'upload-offset': String(offset),
        },
        body,
        duplex: 'half',
        redirect: 'manual',
      } as RequestInit);
      return (await expect<{ offset: number }>(response, 200)).offset;
    },
    /**
     * The URL and signed headers of an append, for a caller that streams the body itself; with
     * `idleMs`, the agent answers 410 for an upload nothing reached for longer (its expiry).
     */
    appendRequest: (id: string, offset: number, idleMs = 0) => {
      const target = idleMs > 0 ? `${path(id)}?idle_ms=${idleMs}` : path(id);
      return {
        url: new URL(target, options.url),
        headers: {
          ...signatureHeaders(key, { method: 'PATCH', target, body: UNSIGNED_PAYLOAD }, clock()),
          'content-type': 'application/offset+octet-stream',
          'upload-offset': String(offset),
        },
      };
    },
    /** The new offset from an append's answer (its status and body text). */
    appended: (status: number, text: string) => {
      if (status !== 200) throw agentFailure(status, text);
      return (JSON.parse(text) as { offset: number }).offset;
    },
    complete: async (id: string) =>
      expect<{ path: string; size: number; sha256: string }>(await call('POST', `${path(id)}/complete`), 200),
    remove: async (id: string) => {
      const response = await call('DELETE', path(id));
      if (response.status !== 204) throw await failure(response);
    },
  };
}

export type AgentUploads = ReturnType<typeof agentUploads>;
