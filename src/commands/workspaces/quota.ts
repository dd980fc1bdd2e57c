import type { Decider } from '../kernel/index.ts';
import { conflict, invalid } from '../kernel/index.ts';
import { checkEvents, type SlotEvent } from './events.ts';

/**
 * A tenant's workspace quota: one stream per tenant holding who has a workspace. Every claim appends
 * to it with the expected revision, so two concurrent requests cannot both take the last slot, and a
 * user cannot end up with two workspaces.
 */
export interface QuotaState {
  /** workspace id → user id, for every workspace holding a slot. */
  slots: Record<string, string>;
}

export type QuotaCommand =
  | {
      type: 'ClaimWorkspaceSlot';
      tenantId: string;
      workspaceId: string;
      userId: string;
      /** The plan's `workspaces` limit; null is unlimited. */
      limit: number | null;
      at: string;
    }
  | { type: 'ReleaseWorkspaceSlot'; tenantId: string; workspaceId: string; at: string };

const initialState = (): QuotaState => ({ slots: {} });

function decide(command: QuotaCommand, state: QuotaState): SlotEvent[] {
  return checkEvents(decideUnchecked(command, state), invalid);
}

function decideUnchecked(command: QuotaCommand, state: QuotaState): SlotEvent[] {
  if (command.type === 'ClaimWorkspaceSlot') {
    if (state.slots[command.workspaceId] === command.userId) return [];
    const held = Object.entries(state.slots).find(([, userId]) => userId === command.userId);
    if (held) throw conflict(`the user already has a workspace (${held[0]})`);
    const used = Object.keys(state.slots).length;
    if (command.limit !== null && used >= command.limit) {
      throw conflict(`the plan allows ${command.limit} workspaces and ${used} are in use`);
    }
    const { type: _, ...data } = command;
    return [{ type: 'WorkspaceSlotClaimed', data }];
  }
  const userId = state.slots[command.workspaceId];
  if (userId === undefined) return [];
  return [
    {
      type: 'WorkspaceSlotReleased',
      data: { tenantId: command.tenantId, workspaceId: command.workspaceId, userId, at: command.at },
    },
  ];
}

function evolve(state: QuotaState, event: SlotEvent): QuotaState {
  switch (event.type) {
    case 'WorkspaceSlotClaimed':
      return { slots: { ...state.slots, [event.data.workspaceId]: event.data.userId } };
    case 'WorkspaceSlotReleased': {
      const { [event.data.workspaceId]: _, ...rest } = state.slots;
      return { slots: rest };
    }
  }
}

export const quotaDecider: Decider<QuotaCommand, SlotEvent, QuotaState> = { initialState, decide, evolve };
