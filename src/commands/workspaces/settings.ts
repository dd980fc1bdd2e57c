import type { Decider } from '../kernel/index.ts';
import { invalid } from '../kernel/index.ts';
import { checkEvents, type Resources, type SettingsEvent } from './events.ts';

/** The tenant's workspace settings: whether approving a user provisions their workspace; the loss policy. */
export interface WorkspaceSettingsState {
  onApproval: {
    enabled: boolean;
    image: string | null;
    resources: Resources;
    ports: number[];
    updatedAt: string | null;
    by: string | null;
  };
  /** What happens on agent loss (`recreate` elsewhere, or `wait` for it) and on a vanished container. */
  loss: {
    onAgentLoss: 'recreate' | 'wait';
    onContainerLost: 'recreate' | 'mark';
    updatedAt: string | null;
    by: string | null;
  };
}

export type WorkspaceSettingsCommand =
  | {
      type: 'SetWorkspaceOnApproval';
      tenantId: string;
      enabled: boolean;
      image: string | null;
      resources: Resources;
      ports: number[];
      at: string;
      by: string;
    }
  | {
      type: 'SetWorkspaceLossPolicy';
      tenantId: string;
      onAgentLoss: 'recreate' | 'wait';
      onContainerLost: 'recreate' | 'mark';
      at: string;
      by: string;
    }
  | {
      type: 'RecordWorkspaceOnApprovalRefused';
      tenantId: string;
      userId: string;
      reason: string;
      at: string;
    };

/** Off until an admin turns it on: approving a user provisions nothing by default. */
const initialState = (): WorkspaceSettingsState => ({
  onApproval: {
    enabled: false,
    image: null,
    resources: { cpus: 1, memoryMb: 512 },
    ports: [8080],
    updatedAt: null,
    by: null,
  },
  loss: { onAgentLoss: 'recreate', onContainerLost: 'recreate', updatedAt: null, by: null },
});

function decide(command: WorkspaceSettingsCommand, state: WorkspaceSettingsState): SettingsEvent[] {
  return checkEvents(decideUnchecked(command, state), invalid);
}

function decideUnchecked(command: WorkspaceSettingsCommand, state: WorkspaceSettingsState): SettingsEvent[] {
  if (command.type === 'RecordWorkspaceOnApprovalRefused') {
    const { type: _, ...data } = command;
    return [{ type: 'WorkspaceOnApprovalRefused', data: { ...data, reason: data.reason.slice(0, 500) } }];
  }
  if (command.type === 'SetWorkspaceLossPolicy') {
    if (
      state.loss.onAgentLoss === command.onAgentLoss &&
      state.loss.onContainerLost === command.onContainerLost
    ) {
      return [];
    }
    const { type: _, ...data } = command;
    return [{ type: 'WorkspaceLossPolicySet', data }];
  }
  if (command.enabled && command.image === null) {
    throw invalid([{ path: 'image', message: 'an image is required to turn workspace on approval on' }]);
  }
  const now = state.onApproval;
  if (
    now.enabled === command.enabled &&
    now.image === command.image &&
    now.resources.cpus === command.resources.cpus &&
    now.resources.memoryMb === command.resources.memoryMb &&
    now.ports.join(',') === command.ports.join(',')
  ) {
    return [];
  }
  const { type: _, ...data } = command;
  return [{ type: 'WorkspaceOnApprovalSet', data }];
}

function evolve(state: WorkspaceSettingsState, event: SettingsEvent): WorkspaceSettingsState {
  switch (event.type) {
    case 'WorkspaceOnApprovalSet': {
      const { enabled, image, resources, ports, at, by } = event.data;
      return { ...state, onApproval: { enabled, image, resources, ports, updatedAt: at, by } };
    }
    case 'WorkspaceLossPolicySet': {
      const { onAgentLoss, onContainerLost, at, by } = event.data;
      return { ...state, loss: { onAgentLoss, onContainerLost, updatedAt: at, by } };
    }
    case 'WorkspaceOnApprovalRefused':
      return state;
  }
}

/** The tenant's workspace settings, set by admins as events (one stream per tenant). */
export const workspaceSettingsDecider: Decider<
  WorkspaceSettingsCommand,
  SettingsEvent,
  WorkspaceSettingsState
> = { initialState, decide, evolve };
