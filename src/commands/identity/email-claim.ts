import type { Decider } from '../kernel/index.ts';
import { conflict, validated } from '../kernel/index.ts';
import { type EmailClaimEvent, identityEventSchemas } from './events.ts';

/** Who holds one email of one tenant. The email itself is not here: only its keyed claim id. */
export interface EmailClaimState {
  claimId: string;
  tenantId: string;
  /** The user holding the email, or null (never claimed, or released). */
  holder: string | null;
  /** When the current holder claimed it ('' when none). */
  claimedAt: string;
}

export type EmailClaimCommand =
  | {
      type: 'ClaimEmail';
      claimId: string;
      tenantId: string;
      userId: string;
      /**
       * The current holder, when the handler found that they left the tenant (removed, rejected, or a
       * registration that never completed): their claim is released first. Any other holder refuses.
       */
      staleHolder?: string | undefined;
      at: string;
    }
  | { type: 'ReleaseEmail'; userId: string; at: string };

const initialState = (): EmailClaimState => ({ claimId: '', tenantId: '', holder: null, claimedAt: '' });

function decide(command: EmailClaimCommand, state: EmailClaimState): EmailClaimEvent[] {
  if (command.type === 'ReleaseEmail') {
    if (state.holder !== command.userId) return [];
    const { claimId, tenantId } = state;
    return [{ type: 'EmailReleased', data: { claimId, tenantId, userId: command.userId, at: command.at } }];
  }
  const { claimId, tenantId, userId, at } = command;
  if (state.holder === userId) return [];
  const claimed: EmailClaimEvent = { type: 'EmailClaimed', data: { claimId, tenantId, userId, at } };
  if (state.holder === null) return [claimed];
  if (command.staleHolder !== state.holder) {
    throw conflict('a user with this email already exists in this tenant');
  }
  return [{ type: 'EmailReleased', data: { claimId, tenantId, userId: state.holder, at } }, claimed];
}

function evolve(state: EmailClaimState, event: EmailClaimEvent): EmailClaimState {
  switch (event.type) {
    case 'EmailClaimed':
      return {
        claimId: event.data.claimId,
        tenantId: event.data.tenantId,
        holder: event.data.userId,
        claimedAt: event.data.at,
      };
    case 'EmailReleased':
      return { ...state, holder: null, claimedAt: '' };
    default:
      return state;
  }
}

/**
 * The email → user mapping. Its stream id is keyed-derived from (tenant, email), so concurrent
 * registrations of one email race for one stream and exactly one wins; the user's own id is random,
 * so a later registration of a released email is a new person who inherits nothing.
 */
export const emailClaimDecider: Decider<EmailClaimCommand, EmailClaimEvent, EmailClaimState> = validated(
  { initialState, decide, evolve },
  identityEventSchemas,
);
