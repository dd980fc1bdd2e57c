import type { EventStore } from '../../src/eventstore/port.ts';
import type { LooseJson, SignedInUser } from '../support/app.ts';

/** Base64 of a text, as tus `Upload-Metadata` carries each value. */
export const b64 = (text: string) => Buffer.from(text).toString('base64');

/** tus `Upload-Metadata`: `key <base64 value>` pairs, comma-separated. */
export const metadataHeader = (fields: Record<string, string>) =>
  Object.entries(fields)
    .map(([key, value]) => `${key} ${b64(value)}`)
    .join(',');

/** The bearer token and tenant of a signed-in user, as request headers. */
export const headersOf = (user: Pick<SignedInUser, 'token' | 'tenantSlug'>) => ({
  authorization: `Bearer ${user.token}`,
  'x-tenant': user.tenantSlug,
});

/**
 * Raw tus 1.0 requests to Warden's `/v1/uploads` at `base()` (read at each request: a suite's server
 * starts after the suite is declared), each signed in as the user it is given: what a test sends to
 * see each answer as it comes (tus-js-client hides them).
 */
export function tusRequests(base: () => string) {
  return {
    /** Opens an upload (tus creation), with its first bytes when `body` is given (creation-with-upload). */
    create: (
      user: SignedInUser,
      size: number,
      fields: Record<string, string>,
      body?: Uint8Array<ArrayBuffer>,
    ) =>
      fetch(`${base()}/v1/uploads`, {
        method: 'POST',
        headers: {
          ...headersOf(user),
          'tus-resumable': '1.0.0',
          'upload-length': String(size),
          'upload-metadata': metadataHeader(fields),
          ...(body ? { 'content-type': 'application/offset+octet-stream' } : {}),
        },
        ...(body ? { body } : {}),
      }),
    /** Asks where an upload stands (its `Upload-Offset`). */
    head: (user: SignedInUser, location: string) =>
      fetch(`${base()}${location}`, {
        method: 'HEAD',
        headers: { ...headersOf(user), 'tus-resumable': '1.0.0' },
      }),
    /** Sends bytes from `offset`. */
    patch: (user: SignedInUser, location: string, offset: number, body: Uint8Array<ArrayBuffer>) =>
      fetch(`${base()}${location}`, {
        method: 'PATCH',
        headers: {
          ...headersOf(user),
          'tus-resumable': '1.0.0',
          'upload-offset': String(offset),
          'content-type': 'application/offset+octet-stream',
        },
        body,
      }),
  };
}

/** The events of a tenant's uploads stream, as type and data. */
export async function uploadEventsOf(store: Pick<EventStore, 'readStream'>, tenantId: string) {
  return (await store.readStream(`workspaces.Uploads-${tenantId}`)).map((e) => ({
    type: e.type,
    data: e.data as LooseJson,
  }));
}
