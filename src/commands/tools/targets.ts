import type { Decider } from '../kernel/index.ts';
import { validated } from '../kernel/index.ts';
import { type TargetsEvent, toolsEventSchemas } from './events.ts';

export interface TargetsState {
  tenantId: string;
  /** Empty by default: every target is refused until the tenant names some. */
  targets: string[];
  updatedAt: string | null;
}

export type TargetsCommand = {
  type: 'SetTargets';
  tenantId: string;
  targets: string[];
  by: string;
  at: string;
};

const initialState = (): TargetsState => ({ tenantId: '', targets: [], updatedAt: null });

function decide(command: TargetsCommand, state: TargetsState): TargetsEvent[] {
  const targets = [...new Set(command.targets)];
  const same = targets.length === state.targets.length && targets.every((t) => state.targets.includes(t));
  if (same) return [];
  return [
    {
      type: 'ToolTargetsChanged',
      data: { tenantId: command.tenantId, targets, previous: state.targets, at: command.at, by: command.by },
    },
  ];
}

function evolve(state: TargetsState, event: TargetsEvent): TargetsState {
  if (event.type !== 'ToolTargetsChanged') return state;
  return { tenantId: event.data.tenantId, targets: event.data.targets, updatedAt: event.data.at };
}

/** A tenant's allowlist of tool targets (CIDRs, addresses and host names): one stream per tenant. */
export const targetsDecider: Decider<TargetsCommand, TargetsEvent, TargetsState> = validated(
  { initialState, decide, evolve },
  toolsEventSchemas,
);
