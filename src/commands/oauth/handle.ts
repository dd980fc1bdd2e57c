import type { EventStore } from '../../eventstore/port.ts';
import { type CommandContext, handle, load } from '../kernel/handle.ts';
import { deriveId } from '../kernel/ids.ts';
import { type ClientCommand, type ClientState, clientDecider } from './client.ts';
import { type ConsentCommand, type ConsentState, consentDecider } from './consent.ts';
import { clientStreamId, consentStreamId } from './events.ts';

/** Runs a client command on the client's stream (load → decide → append). */
export function handleClientCommand(store: EventStore, command: ClientCommand, context: CommandContext) {
  return handle(store, clientStreamId(command.clientId), clientDecider, command, context);
}

/** The client as its events say, or undefined when it never existed, was deleted, or is another tenant's. */
export async function findClient(
  store: EventStore,
  tenantId: string,
  clientId: string,
): Promise<{ state: ClientState; revision: number } | undefined> {
  const loaded = await load(store, clientStreamId(clientId), clientDecider);
  if (loaded.state.status !== 'active' || loaded.state.tenantId !== tenantId) return undefined;
  return { state: loaded.state, revision: loaded.revision };
}

/** One consent stream per (tenant, user, client). */
export const consentIdFor = (tenantId: string, userId: string, clientId: string) =>
  deriveId('warden.oauth.consent', tenantId, userId, clientId);

export async function handleConsentCommand(
  store: EventStore,
  command: ConsentCommand,
  context: CommandContext,
) {
  const id = await consentIdFor(command.tenantId, command.userId, command.clientId);
  return handle(store, consentStreamId(id), consentDecider, command, context);
}

export async function findConsent(
  store: EventStore,
  tenantId: string,
  userId: string,
  clientId: string,
): Promise<ConsentState> {
  const id = await consentIdFor(tenantId, userId, clientId);
  return (await load(store, consentStreamId(id), consentDecider)).state;
}
