import type { Logger } from 'pino';
import { registerUser, type UserIds } from './commands/identity/index.ts';
import { DomainError, deriveId } from './commands/kernel/index.ts';
import { createTenant, tenantIdForSlug } from './commands/tenancy/index.ts';
import type { EventStore } from './eventstore/port.ts';
import type { PasswordHasher } from './identity/index.ts';

export interface BootstrapAdmin {
  email: string;
  /** When absent a password is generated and handed to `reveal` once, when the user is created. */
  password?: string | undefined;
  hasher: PasswordHasher;
  /** Shows the generated password to the operator (stderr, never the log). */
  reveal: (text: string) => void;
  /** How user ids follow from emails (the service's keyed derivation). */
  userIds?: UserIds | undefined;
}

const DEFAULT_TENANT = 'default';
const context = { metadata: { actorId: 'system', requestId: 'bootstrap' } };

/**
 * First start (DESIGN §9): tenant `default` exists, and one user who is the platform superadmin and
 * its owner. The tenant's command id is fixed and the admin's email is claimed on one stream whose id
 * derives from it, so several processes starting at once, or a restart, create each exactly once.
 */
export async function bootstrap(
  store: EventStore,
  logger: Logger,
  admin?: BootstrapAdmin,
  clock: () => Date = () => new Date(),
): Promise<void> {
  const tenantId = await ensureDefaultTenant(store, logger, clock);
  if (!admin) return;
  const generated = admin.password === undefined;
  const password = admin.password ?? generatePassword();
  try {
    const result = await registerUser(
      store,
      admin.hasher,
      {
        tenantId,
        email: admin.email,
        name: 'Administrator',
        password,
        role: 'owner',
        via: 'admin',
        platformSuperadmin: true,
        maxUsers: null,
        defaultPolicy: 'closed',
        at: clock().toISOString(),
      },
      { metadata: { ...context.metadata, tenantId } },
      admin.userIds,
    );
    logger.info({ userId: result.state.userId, email: admin.email }, 'created the platform superadmin');
    if (generated) {
      admin.reveal(
        `\nWarden created the platform superadmin ${admin.email} (owner of tenant "default").\n` +
          `Its generated password, shown only this once:\n\n    ${password}\n\n` +
          'Sign in with POST /v1/auth/login (X-Tenant: default), then change it with\n' +
          'POST /v1/me/password {"current_password": "…", "new_password": "…"} and that access token.\n\n',
      );
    }
  } catch (error) {
    if (!(error instanceof DomainError && error.code === 'CONFLICT')) throw error;
  }
}

async function ensureDefaultTenant(store: EventStore, logger: Logger, clock: () => Date): Promise<string> {
  try {
    const result = await createTenant(
      store,
      { slug: DEFAULT_TENANT, name: 'Default', plan: 'enterprise', at: clock().toISOString() },
      { ...context, commandId: await deriveId('warden.bootstrap', 'tenant') },
    );
    if (result.events.length > 0)
      logger.info({ tenantId: result.state.tenantId }, 'created the default tenant');
  } catch (error) {
    if (!(error instanceof DomainError && error.code === 'CONFLICT')) throw error;
  }
  return tenantIdForSlug(DEFAULT_TENANT);
}

/** 20 characters from a 62-letter alphabet (~119 bits), no ambiguity about what to type. */
function generatePassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const out: string[] = [];
  while (out.length < 20) {
    const [byte = 255] = crypto.getRandomValues(new Uint8Array(1));
    if (byte < alphabet.length * Math.floor(256 / alphabet.length))
      out.push(alphabet[byte % alphabet.length] ?? '');
  }
  return out.join('');
}
