/** The manifest types a registry may hold a pushed image as (Docker schema 2, OCI, and their lists). */
const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

export interface RegistryDeletion {
  /** `removed` (or already absent), or `kept`: the registry refused or could not be asked. */
  outcome: 'removed' | 'kept';
  detail?: string;
}

/**
 * Deletes `name:tag` from a registry through its HTTP API v2: `HEAD` the manifest for its digest,
 * then `DELETE /v2/<name>/manifests/<digest>`, with basic auth. A registry with deletion disabled
 * answers 405: the image is `kept`, and `detail` says so; it never throws. No redirect is followed:
 * the registry cannot send the credentials, or a DELETE, to another host or path.
 */
export async function deleteFromRegistry(
  registry: { url: string; username: string; password: string },
  name: string,
  tag: string,
  timeoutMs = 10_000,
): Promise<RegistryDeletion> {
  const headers: Record<string, string> = { accept: MANIFEST_TYPES };
  if (registry.username || registry.password) {
    const pair = new TextEncoder().encode(`${registry.username}:${registry.password}`);
    headers.authorization = `Basic ${btoa(String.fromCharCode(...pair))}`;
  }
  const manifest = (reference: string) =>
    new URL(`/v2/${name}/manifests/${encodeURIComponent(reference)}`, registry.url);
  try {
    const head = await fetch(manifest(tag), {
      method: 'HEAD',
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (head.status === 404) return { outcome: 'removed', detail: 'the registry no longer held it' };
    const digest = head.headers.get('docker-content-digest');
    if (head.status !== 200 || !digest) {
      return { outcome: 'kept', detail: `the registry answered ${head.status} to the manifest's HEAD` };
    }
    const deleted = await fetch(manifest(digest), {
      method: 'DELETE',
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await deleted.body?.cancel();
    if (deleted.status === 202 || deleted.status === 200 || deleted.status === 404)
      return { outcome: 'removed' };
    if (deleted.status === 405) {
      return { outcome: 'kept', detail: 'the registry does not allow deletion (405: deletion disabled)' };
    }
    return { outcome: 'kept', detail: `the registry answered ${deleted.status} to the DELETE` };
  } catch (error) {
    return {
      outcome: 'kept',
      detail: `the registry did not answer: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}
