import type { z } from 'zod';
import { checkAgainst } from './contract.ts';
import type { DomainEvent } from './decider.ts';
import { invalid } from './errors.ts';
import { type CommandContext, toNewEvents } from './handle.ts';
import type { CommandStore } from './store.ts';

/**
 * Records an audit-only event (no aggregate decides it: a sign-in, a token family's rotation, a key
 * rotation, an import): validated against its schema like every decided event (INVALID otherwise;
 * the parsed data is what is stored), appended with expected revision `any`.
 */
export async function record(
  store: Pick<CommandStore, 'append'>,
  streamId: string,
  event: DomainEvent,
  schemas: Readonly<Record<string, z.ZodType>>,
  context: Pick<CommandContext, 'metadata' | 'commandId' | 'eventIds'>,
): Promise<{ revision: number; position: bigint }> {
  const events = checkAgainst(schemas, [event], invalid);
  return store.append(streamId, await toNewEvents(events, context), { expected: 'any' });
}
