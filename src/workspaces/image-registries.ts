import { type Kysely, type QueryExecutorProvider, sql } from 'kysely';
import { isLoopbackAddress, isUnspecifiedOrLinkLocal } from '../runtime/addresses.ts';
import type { KeySealer } from './agent-keys.ts';
import { openedSecrets } from './opened-secrets.ts';

export interface ImageRegistriesTable {
  tenant_id: string;
  url: string;
  username: string;
  /** The password sealed with the key-encryption key (`v1.…`); null when none is set. */
  password_sealed: string | null;
  updated_at: Date;
}

type Tables = { warden_image_registries: ImageRegistriesTable };

export interface ImageRegistry {
  url: string;
  /** The registry's `host[:port]`, as image references name it. */
  host: string;
  username: string;
  passwordSet: boolean;
  updatedAt: string;
}

const context = (tenantId: string) => `image registry password ${tenantId}`;

/** `https://registry.example.com:5000/` → `registry.example.com:5000`. */
export const registryHost = (url: string) => new URL(url).host;

/**
 * Why a URL Warden will call on a tenant's say-so (its registry, its agents) is refused, or undefined:
 * http or https, no credentials in it, and never a link-local (a cloud's metadata service) or
 * unspecified address. `loopbackOnlyHttp`: plain `http://` only on this host's loopback.
 */
export function tenantUrlProblem(url: string, options: { loopbackOnlyHttp: boolean }): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not a URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'must be http:// or https://';
  const host = parsed.hostname.toLowerCase();
  const loopback = host === 'localhost' || isLoopbackAddress(host);
  if (isUnspecifiedOrLinkLocal(host)) return 'must not be a link-local or unspecified address';
  if (parsed.username || parsed.password) return 'must not carry credentials';
  if (options.loopbackOnlyHttp && parsed.protocol === 'http:' && !loopback) {
    return 'must be https:// (http:// only on 127.0.0.0/8)';
  }
  return undefined;
}

/**
 * Why a registry URL is refused, or undefined: Warden sends the tenant's credentials there (and
 * deletes manifests there), so it is `https://`, or `http://` only on this host's loopback
 * (127.0.0.0/8, `[::1]`, `localhost`), and never a link-local (cloud metadata) or unspecified address.
 */
export const registryUrlProblem = (url: string) => {
  const problem = tenantUrlProblem(url, { loopbackOnlyHttp: true });
  return problem === 'must not carry credentials' ? `${problem} (give username and password)` : problem;
};

/** Forgets the tenant's registry and its sealed credentials (the tenant was deleted); idempotent. */
export async function dropImageRegistry(db: QueryExecutorProvider, tenantId: string): Promise<void> {
  await sql`delete from warden_image_registries where tenant_id = ${tenantId}`.execute(db);
}

/**
 * Each tenant's image registry (migration 0025): the password is sealed with the key-encryption
 * key as it is written and opened only to hand it to an agent in a signed body.
 */
export function imageRegistries(database: Kysely<unknown>, sealer: KeySealer) {
  const db = database as Kysely<Tables>;
  const open = openedSecrets(sealer);
  const row = (tenantId: string) =>
    db.selectFrom('warden_image_registries').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst();
  return {
    /**
     * Sets the registry. `password` undefined keeps the one set while the URL's origin (scheme, host
     * and port) is unchanged: a password is never sent where it was not set for. Null clears it.
     */
    async put(tenantId: string, input: { url: string; username: string; password?: string | null }) {
      const before = await row(tenantId);
      let sealed: string | null;
      if (input.password === undefined) {
        sealed =
          before && new URL(before.url).origin === new URL(input.url).origin ? before.password_sealed : null;
      } else if (input.password === null) sealed = null;
      else sealed = await sealer.seal(input.password, context(tenantId));
      await db
        .insertInto('warden_image_registries')
        .values({
          tenant_id: tenantId,
          url: input.url,
          username: input.username,
          password_sealed: sealed,
          updated_at: new Date(),
        })
        .onConflict((oc) =>
          oc.column('tenant_id').doUpdateSet({
            url: input.url,
            username: input.username,
            password_sealed: sealed,
            updated_at: new Date(),
          }),
        )
        .execute();
    },
    async get(tenantId: string): Promise<ImageRegistry | undefined> {
      const found = await row(tenantId);
      if (!found) return undefined;
      return {
        url: found.url,
        host: registryHost(found.url),
        username: found.username,
        passwordSet: found.password_sealed !== null,
        updatedAt: found.updated_at.toISOString(),
      };
    },
    /** The credentials to hand an agent (in a signed body), or undefined when no registry is set. */
    async credentials(
      tenantId: string,
    ): Promise<{ host: string; username: string; password: string } | undefined> {
      const found = await row(tenantId);
      if (!found) return undefined;
      const password =
        found.password_sealed === null ? '' : await open(found.password_sealed, context(tenantId));
      return { host: registryHost(found.url), username: found.username, password };
    },
  };
}

export type ImageRegistries = ReturnType<typeof imageRegistries>;
