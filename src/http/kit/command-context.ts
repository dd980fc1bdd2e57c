import type { Context } from 'hono';
import type { CommandContext } from '../../commands/kernel/handle.ts';
import type { AppEnv } from './env.ts';
import { ifMatchRevision } from './preconditions.ts';

const CORRELATION = /^[A-Za-z0-9._:-]{1,128}$/;

/** Who, why and under which preconditions a command runs, taken from the request. */
export function commandContext(
  c: Context<AppEnv>,
  extra: { tenantId?: string; actorId?: string } = {},
): CommandContext {
  const requestId = c.get('requestId');
  const correlation = c.req.header('x-correlation-id');
  const expectedRevision = ifMatchRevision(c);
  return {
    metadata: {
      requestId,
      correlationId: correlation && CORRELATION.test(correlation) ? correlation : requestId,
      ...(extra.tenantId ? { tenantId: extra.tenantId } : {}),
      ...(extra.actorId ? { actorId: extra.actorId } : {}),
    },
    ...(expectedRevision === undefined ? {} : { expectedRevision }),
  };
}
