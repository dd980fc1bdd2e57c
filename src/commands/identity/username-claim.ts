import type { Decider } from '../kernel/index.ts';
import { ruleViolated, validated } from '../kernel/index.ts';
import { identityEventSchemas, type UsernameClaimEvent } from './events.ts';

/** Who holds one username of one tenant. The username itself is not here: only its keyed claim id. */
export interface UsernameClaimState {
  claimId: string;
  tenantId: string;
  /** The user holding it, or null (never claimed, or released). */
  holder: string | null;
  claimedAt: string;
}

export type UsernameClaimCommand =
  | {
      type: 'ClaimUsername';
      claimId: string;
      tenantId: string;
      userId: string;
      /** The current holder, when the handler found they no longer hold it (left, or changed it). */
      staleHolder?: string | undefined;
      at: string;
    }
  | { type: 'ReleaseUsername'; userId: string; at: string };

/** The rule a taken username breaks (409, `rule-violated`), distinct from other conflicts. */
export const usernameTaken = () => ruleViolated('username_taken', 'this username is taken in this tenant');

const initialState = (): UsernameClaimState => ({ claimId: '', tenantId: '', holder: null, claimedAt: '' });

function decide(command: UsernameClaimCommand, state: UsernameClaimState): UsernameClaimEvent[] {
  if (command.type === 'ReleaseUsername') {
    if (state.holder !== command.userId) return [];
    const { claimId, tenantId } = state;
    return [
      { type: 'UsernameReleased', data: { claimId, tenantId, userId: command.userId, at: command.at } },
    ];
  }
  const { claimId, tenantId, userId, at } = command;
  if (state.holder === userId) return [];
  const claimed: UsernameClaimEvent = { type: 'UsernameClaimed', data: { claimId, tenantId, userId, at } };
  if (state.holder === null) return [claimed];
  if (command.staleHolder !== state.holder) throw usernameTaken();
  return [{ type: 'UsernameReleased', data: { claimId, tenantId, userId: state.holder, at } }, claimed];
}

function evolve(state: UsernameClaimState, event: UsernameClaimEvent): UsernameClaimState {
  switch (event.type) {
    case 'UsernameClaimed':
      return {
        claimId: event.data.claimId,
        tenantId: event.data.tenantId,
        holder: event.data.userId,
        claimedAt: event.data.at,
      };
    case 'UsernameReleased':
      return { ...state, holder: null, claimedAt: '' };
    default:
      return state;
  }
}

/**
 * The username → user mapping, as email claims are for emails: its stream id is keyed-derived from
 * (tenant, lowercased username), so concurrent claims of one username race for one stream and exactly
 * one wins, whatever the case each was typed in.
 */
export const usernameClaimDecider: Decider<UsernameClaimCommand, UsernameClaimEvent, UsernameClaimState> =
  validated({ initialState, decide, evolve }, identityEventSchemas);
