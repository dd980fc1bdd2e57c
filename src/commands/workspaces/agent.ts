import type { Decider } from '../kernel/index.ts';
import { conflict, invalid, notFound } from '../kernel/index.ts';
import { type AgentCapacity, type AgentEvent, checkEvents } from './events.ts';

export interface AgentState {
  exists: boolean;
  removed: boolean;
  agentId: string;
  tenantId: string;
  name: string;
  url: string;
  labels: string[];
  capacity: AgentCapacity;
  registeredAt: string;
}

export type AgentCommand =
  | {
      type: 'RegisterAgent';
      agentId: string;
      tenantId: string;
      name: string;
      url: string;
      labels: string[];
      capacity: AgentCapacity;
      at: string;
      by: string;
    }
  | { type: 'DeregisterAgent'; at: string; by: string };

const initialState = (): AgentState => ({
  exists: false,
  removed: false,
  agentId: '',
  tenantId: '',
  name: '',
  url: '',
  labels: [],
  capacity: { cpus: 0, memoryMb: 0, workspaces: 0 },
  registeredAt: '',
});

function decide(command: AgentCommand, state: AgentState): AgentEvent[] {
  return checkEvents(decideUnchecked(command, state), invalid);
}

function decideUnchecked(command: AgentCommand, state: AgentState): AgentEvent[] {
  if (command.type === 'RegisterAgent') {
    if (state.exists) throw conflict(`the agent ${state.name} is already registered`);
    const { type: _, ...data } = command;
    return [{ type: 'AgentRegistered', data: { ...data, labels: [...new Set(data.labels)].sort() } }];
  }
  if (!state.exists || state.removed) throw notFound('agent');
  return [
    {
      type: 'AgentDeregistered',
      data: { agentId: state.agentId, tenantId: state.tenantId, at: command.at, by: command.by },
    },
  ];
}

function evolve(state: AgentState, event: AgentEvent): AgentState {
  switch (event.type) {
    case 'AgentRegistered': {
      const d = event.data;
      return {
        exists: true,
        removed: false,
        agentId: d.agentId,
        tenantId: d.tenantId,
        name: d.name,
        url: d.url,
        labels: d.labels,
        capacity: d.capacity,
        registeredAt: d.at,
      };
    }
    case 'AgentDeregistered':
      return { ...state, removed: true };
  }
}

/** A host running `warden agent`, registered by an admin: where workspaces can be placed. */
export const agentDecider: Decider<AgentCommand, AgentEvent, AgentState> = { initialState, decide, evolve };
