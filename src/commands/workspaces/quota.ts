import type { Decider } from '../kernel/index.ts';
import { conflict, invalid, notFound } from '../kernel/index.ts';
import { type AgentCapacity, checkEvents, type Resources, type SlotEvent } from './events.ts';

/** Where a slot's workspace runs and the room it takes there. */
export interface SlotPlacement {
  agentId: string;
  cpus: number;
  memoryMb: number;
}

/**
 * A tenant's workspace quota: one stream per tenant holding who has a workspace and which agent each
 * one occupies. Every claim and every placement appends to it with the expected revision, so two
 * concurrent requests cannot both take the last slot or the last room on an agent, and a user cannot
 * end up with two workspaces.
 */
export interface QuotaState {
  /** workspace id → user id, for every workspace holding a slot. */
  slots: Record<string, string>;
  /** workspace id → its agent and resources, for every placed workspace holding a slot. */
  placements: Record<string, SlotPlacement>;
}

/** An agent as placement needs it: its name (for the refusal), its capacity, and what is asked. */
export interface PlacementRequest {
  agentId: string;
  agentName: string;
  capacity: AgentCapacity;
  resources: Resources;
}

export type QuotaCommand =
  | {
      type: 'ClaimWorkspaceSlot';
      tenantId: string;
      workspaceId: string;
      userId: string;
      /** The plan's `workspaces` limit; null is unlimited. */
      limit: number | null;
      /** The agent an admin chose: its room is taken in the same append, or the claim is refused. */
      placement?: PlacementRequest;
      at: string;
    }
  | ({ type: 'PlaceWorkspaceSlot'; tenantId: string; workspaceId: string; at: string } & PlacementRequest)
  | { type: 'ReleaseWorkspaceSlot'; tenantId: string; workspaceId: string; at: string };

const initialState = (): QuotaState => ({ slots: {}, placements: {} });

/** What the slots placed on `agentId` take there, leaving out `except` (a workspace being moved). */
export function agentUsageOf(state: QuotaState, agentId: string, except?: string) {
  const used = { cpus: 0, memoryMb: 0, workspaces: 0 };
  for (const [workspaceId, placement] of Object.entries(state.placements)) {
    if (placement.agentId !== agentId || workspaceId === except) continue;
    used.cpus += placement.cpus;
    used.memoryMb += placement.memoryMb;
    used.workspaces += 1;
  }
  return used;
}

function placed(
  state: QuotaState,
  tenantId: string,
  workspaceId: string,
  request: PlacementRequest,
  at: string,
) {
  const { capacity, resources } = request;
  const used = agentUsageOf(state, request.agentId, workspaceId);
  if (
    used.cpus + resources.cpus > capacity.cpus ||
    used.memoryMb + resources.memoryMb > capacity.memoryMb ||
    used.workspaces + 1 > capacity.workspaces
  ) {
    const free = (total: number, taken: number) => Math.max(0, Math.round((total - taken) * 1000) / 1000);
    throw conflict(
      `the agent ${request.agentName} has ${free(capacity.cpus, used.cpus)} CPUs, ${free(capacity.memoryMb, used.memoryMb)} MB and ${free(capacity.workspaces, used.workspaces)} workspaces free; asked for ${resources.cpus} CPUs and ${resources.memoryMb} MB`,
    );
  }
  return {
    type: 'WorkspaceSlotPlaced' as const,
    data: { tenantId, workspaceId, agentId: request.agentId, ...resources, at },
  };
}

function decide(command: QuotaCommand, state: QuotaState): SlotEvent[] {
  return checkEvents(decideUnchecked(command, state), invalid);
}

function decideUnchecked(command: QuotaCommand, state: QuotaState): SlotEvent[] {
  switch (command.type) {
    case 'ClaimWorkspaceSlot': {
      if (state.slots[command.workspaceId] === command.userId) return [];
      const held = Object.entries(state.slots).find(([, userId]) => userId === command.userId);
      if (held) throw conflict(`the user already has a workspace (${held[0]})`);
      const used = Object.keys(state.slots).length;
      if (command.limit !== null && used >= command.limit) {
        throw conflict(`the plan allows ${command.limit} workspaces and ${used} are in use`);
      }
      const { type: _, placement, ...data } = command;
      const claimed: SlotEvent = { type: 'WorkspaceSlotClaimed', data };
      if (!placement) return [claimed];
      return [claimed, placed(state, command.tenantId, command.workspaceId, placement, command.at)];
    }
    case 'PlaceWorkspaceSlot': {
      if (state.slots[command.workspaceId] === undefined) throw notFound('workspace slot');
      if (state.placements[command.workspaceId]?.agentId === command.agentId) return [];
      return [placed(state, command.tenantId, command.workspaceId, command, command.at)];
    }
    case 'ReleaseWorkspaceSlot': {
      const userId = state.slots[command.workspaceId];
      if (userId === undefined) return [];
      return [
        {
          type: 'WorkspaceSlotReleased',
          data: { tenantId: command.tenantId, workspaceId: command.workspaceId, userId, at: command.at },
        },
      ];
    }
  }
}

function evolve(state: QuotaState, event: SlotEvent): QuotaState {
  switch (event.type) {
    case 'WorkspaceSlotClaimed':
      return { ...state, slots: { ...state.slots, [event.data.workspaceId]: event.data.userId } };
    case 'WorkspaceSlotPlaced': {
      const { agentId, cpus, memoryMb } = event.data;
      return {
        ...state,
        placements: { ...state.placements, [event.data.workspaceId]: { agentId, cpus, memoryMb } },
      };
    }
    case 'WorkspaceSlotReleased': {
      const { [event.data.workspaceId]: _, ...slots } = state.slots;
      const { [event.data.workspaceId]: __, ...placements } = state.placements;
      return { slots, placements };
    }
  }
}

export const quotaDecider: Decider<QuotaCommand, SlotEvent, QuotaState> = { initialState, decide, evolve };
