import { z } from 'zod';

/**
 * Audit events of refresh-token families. They name the family, user and tenant, never a token or
 * its hash: the audit trail must not hold anything that could be replayed.
 */
export const tokenFamilyStreamId = (familyId: string) => `identity.TokenFamily-${familyId}`;

export const TokenFamilyIssued = z.object({
  familyId: z.uuid(),
  userId: z.uuid(),
  tenantId: z.uuid(),
  issuedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  /** OAuth grants: the client, the scopes granted and the grant that started the family. */
  clientId: z.uuid().optional(),
  scope: z.array(z.string()).optional(),
  grantType: z.enum(['authorization_code', 'password']).optional(),
});
export const TokenFamilyRotated = z.object({
  familyId: z.uuid(),
  generation: z.number().int().min(1),
  rotatedAt: z.iso.datetime(),
});
export const TokenFamilyRevoked = z.object({
  familyId: z.uuid(),
  reason: z.enum([
    'logout',
    'reuse_detected',
    'user_gone',
    /** OAuth: the client revoked it (RFC 7009), its code was presented twice, the user withdrew consent, or the client was deleted. */
    'revoked_by_client',
    'code_reused',
    'consent_revoked',
    'client_deleted',
    /** The user's password was changed or reset: every other sign-in ends. */
    'password_changed',
    /** The user's role lost permissions: tokens carrying the old role end (a new sign-in carries the new one). */
    'role_lowered',
    /** The tenant was deleted: every family of it ends, its users' sign-ins and OAuth grants alike. */
    'tenant_deleted',
  ]),
  revokedAt: z.iso.datetime(),
});

/** The signing-key lifecycle for the audit trail: kids only, never key material. */
export const SIGNING_KEYS_STREAM = 'identity.SigningKeys';
export const SigningKeyRotated = z.object({
  activated: z.string(),
  retired: z.string().nullable(),
  pending: z.string(),
  rotatedAt: z.iso.datetime(),
});

export const tokenFamilyEventSchemas = {
  TokenFamilyIssued,
  TokenFamilyRotated,
  TokenFamilyRevoked,
} as const;
export type TokenFamilyEventType = keyof typeof tokenFamilyEventSchemas;
