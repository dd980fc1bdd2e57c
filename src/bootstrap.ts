import type { Logger } from 'pino';
import { DomainError } from './commands/errors.ts';
import { deriveId } from './commands/ids.ts';
import { createTenant } from './commands/tenancy/index.ts';
import type { EventStore } from './eventstore/port.ts';

/**
 * First start (DESIGN §9): the `default` tenant exists. The command id is fixed, so several
 * processes starting at once, or a restart, create it exactly once.
 */
export async function bootstrap(store: EventStore, logger: Logger, clock: () => Date = () => new Date()) {
  try {
    const result = await createTenant(
      store,
      { slug: 'default', name: 'Default', plan: 'enterprise', at: clock().toISOString() },
      {
        metadata: { actorId: 'system', requestId: 'bootstrap' },
        commandId: await deriveId('warden.bootstrap', 'tenant'),
      },
    );
    if (result.events.length > 0)
      logger.info({ tenantId: result.state.tenantId }, 'created the default tenant');
  } catch (error) {
    if (!(error instanceof DomainError && error.code === 'CONFLICT')) throw error;
  }
}
