import type { CommandStore } from '../kernel/index.ts';
import { aggregate, type CommandContext, deriveId, handle, type Loaded, load } from '../kernel/index.ts';
import { type ClientCommand, type ClientState, clientDecider } from './client.ts';
import { type ConsentCommand, type ConsentState, consentDecider } from './consent.ts';
import { clientStreamId, consentStreamId } from './events.ts';

const clients = aggregate({
  decider: clientDecider,
  streamId: clientStreamId,
  what: 'client',
  visibleTo: (state: ClientState, tenantId) => state.status === 'active' && state.tenantId === tenantId,
});

/** Runs a client command on the client's stream (load → decide → append). */
export function handleClientCommand(store: CommandStore, command: ClientCommand, context: CommandContext) {
  // The decider checks the tenant itself (another tenant's client is "not found" there).
  return clients.create(store, command.clientId, command, context);
}

/** The client as its events say, or undefined when it never existed, was deleted, or is another tenant's. */
export async function findClient(
  store: Pick<CommandStore, 'readStream'>,
  tenantId: string,
  clientId: string,
): Promise<Loaded<ClientState> | undefined> {
  return clients.find(store, tenantId, clientId);
}

/** One consent stream per (tenant, user, client). */
export const consentIdFor = (tenantId: string, userId: string, clientId: string) =>
  deriveId('warden.oauth.consent', tenantId, userId, clientId);

export async function handleConsentCommand(
  store: CommandStore,
  command: ConsentCommand,
  context: CommandContext,
) {
  const id = await consentIdFor(command.tenantId, command.userId, command.clientId);
  return handle(store, consentStreamId(id), consentDecider, command, context);
}

export async function findConsent(
  store: CommandStore,
  tenantId: string,
  userId: string,
  clientId: string,
): Promise<ConsentState> {
  const id = await consentIdFor(tenantId, userId, clientId);
  return (await load(store, consentStreamId(id), consentDecider)).state;
}
