import type { Context } from 'hono';
import { z } from 'zod';
import {
  Email,
  SignupPolicy,
  UserName,
  Username,
  UserRole,
  type UserState,
  UserStatus,
} from '../../commands/identity/index.ts';
import { effectiveLimits } from '../../commands/tenancy/index.ts';
import type { ResolvedTenant } from '../../identity/index.ts';
import { NewPassword } from '../../identity/index.ts';
import type { AppEnv } from '../kit/index.ts';
import { commonProblems, etagOf, problemContent } from '../kit/index.ts';

export const User = z
  .object({
    id: z.uuid(),
    email: z.string(),
    name: z.string(),
    role: UserRole,
    status: UserStatus,
    username: z.string().nullable(),
    last_login_at: z.iso
      .datetime()
      .nullable()
      .optional()
      .meta({ description: 'The last sign-in (in the users list; null: never signed in)' }),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
    revision: z.number().int(),
  })
  .meta({ id: 'User' });
export const UserWritten = User.extend({
  position: z.string().meta({ description: 'Send as X-Min-Position to read it back' }),
});

export const RegisterBody = z.strictObject({
  email: Email,
  password: NewPassword,
  name: UserName,
  username: Username.optional(),
});
export const AddUserBody = z.strictObject({
  email: Email,
  password: NewPassword,
  name: UserName,
  role: UserRole.default('member'),
  username: Username.optional(),
});
export const ChangeUserBody = z
  .strictObject({ role: UserRole.optional(), username: Username.optional() })
  .refine((b) => b.role !== undefined || b.username !== undefined, {
    message: 'give role or username',
    path: ['role'],
  });
export const ChangeMeBody = z.strictObject({ username: Username });
export const PolicyBody = z.strictObject({ policy: SignupPolicy });
export const IdParam = z.object({ id: z.uuid() });
export const ListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
  role: UserRole.optional(),
  status: UserStatus.optional(),
  q: z.string().trim().min(1).max(100).optional(),
  sort: z.enum(['created_at', '-created_at', 'email', '-email']).default('created_at'),
});

export const writeResponses = {
  ...commonProblems,
  401: problemContent('No valid access token'),
  403: problemContent('The role lacks the permission'),
  404: problemContent('No such user in this tenant'),
  409: problemContent('Not allowed in the user’s current state'),
  412: problemContent('If-Match does not match the current revision'),
};

export function present(state: UserState, revision: number) {
  return {
    id: state.userId,
    email: state.email,
    name: state.name,
    role: state.role,
    status: state.status,
    username: state.username,
    created_at: state.createdAt,
    updated_at: state.updatedAt,
    revision,
  };
}

/** The tenant's user limit: the superadmin's override, else its plan's (an unknown plan reads as `free`). */
export function maxUsersOf(tenant: ResolvedTenant): number | null {
  return effectiveLimits(tenant.plan, tenant.limits).maxUsers;
}

/** A changed user: ETag and position in the headers, the user and position in the body. */
export function writtenUser(c: Context<AppEnv>, state: UserState, revision: number, position: bigint) {
  c.header('ETag', etagOf(revision));
  c.header('X-Position', position.toString());
  return { ...present(state, revision), position: position.toString() };
}
