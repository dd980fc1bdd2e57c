import { type Kysely, type QueryExecutorProvider, sql } from 'kysely';
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
     * Sets the registry. `password` undefined keeps the one set (when the URL's host is unchanged),
     * null clears it.
     */
    async put(tenantId: string, input: { url: string; username: string; password?: string | null }) {
      const before = await row(tenantId);
      let sealed: string | null;
      if (input.password === undefined) {
        sealed =
          before && registryHost(before.url) === registryHost(input.url) ? before.password_sealed : null;
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
