import type { ImageRecord } from '../../commands/workspaces/index.ts';
import { deleteFromRegistry, type ImageRegistries, type RegistryDeletion } from '../../workspaces/index.ts';

/** Deletes each pushed ref of the image from the tenant's registry; `kept` when any stays. */
export async function removeFromRegistry(
  deps: { registries: ImageRegistries },
  tenantId: string,
  image: ImageRecord,
): Promise<{ registry: 'removed' | 'kept' | 'none'; registryDetail?: string }> {
  const refs = [...new Set(image.pushes.map((p) => p.ref))];
  if (refs.length === 0) return { registry: 'none' };
  const [found, credentials] = await Promise.all([
    deps.registries.get(tenantId),
    deps.registries.credentials(tenantId),
  ]);
  if (!found || !credentials) {
    return { registry: 'kept', registryDetail: 'the tenant has no image registry set any more' };
  }
  const outcomes: RegistryDeletion[] = [];
  for (const ref of refs) {
    // `host/name:tag`, pushed to this registry's host; one pushed elsewhere before is not reachable.
    const path = ref.slice(ref.indexOf('/') + 1);
    const colon = path.lastIndexOf(':');
    if (!ref.startsWith(`${credentials.host}/`) || colon < 0) {
      outcomes.push({ outcome: 'kept', detail: `${ref} is not in the tenant's registry now` });
      continue;
    }
    outcomes.push(
      await deleteFromRegistry(
        { url: found.url, username: credentials.username, password: credentials.password },
        path.slice(0, colon),
        path.slice(colon + 1),
      ),
    );
  }
  const kept = outcomes.filter((o) => o.outcome === 'kept');
  if (kept.length === 0) return { registry: 'removed' };
  return { registry: 'kept', registryDetail: kept.map((o) => o.detail ?? '').join('; ') };
}
