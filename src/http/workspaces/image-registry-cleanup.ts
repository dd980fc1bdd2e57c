import type { ImageRecord } from '../../commands/workspaces/index.ts';
import { deleteFromRegistry, type ImageRegistries, type RegistryDeletion } from '../../workspaces/index.ts';

/**
 * Deletes each pushed ref of the image that is its own (`own`, see `ownRefsOf`) from the tenant's
 * registry; `kept` when any stays, a ref another image was pushed to too among them.
 */
export async function removeFromRegistry(
  deps: { registries: ImageRegistries },
  tenantId: string,
  image: ImageRecord,
  own: readonly string[],
): Promise<{ registry: 'removed' | 'kept' | 'none'; registryDetail?: string }> {
  const pushed = [...new Set(image.pushes.map((p) => p.ref))];
  if (pushed.length === 0) return { registry: 'none' };
  const shared: RegistryDeletion[] = pushed
    .filter((ref) => !own.includes(ref))
    .map((ref) => ({
      outcome: 'kept',
      detail: `${ref} stays: another image of the catalog was pushed there too`,
    }));
  const refs = pushed.filter((ref) => own.includes(ref));
  if (refs.length === 0) return { registry: 'kept', registryDetail: shared.map((o) => o.detail).join('; ') };
  const [found, credentials] = await Promise.all([
    deps.registries.get(tenantId),
    deps.registries.credentials(tenantId),
  ]);
  if (!found || !credentials) {
    return { registry: 'kept', registryDetail: 'the tenant has no image registry set any more' };
  }
  const outcomes: RegistryDeletion[] = [...shared];
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
