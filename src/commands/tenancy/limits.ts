import { z } from 'zod';
import { type Plan, PlanId, plans } from './plans.ts';

/** Every limit a plan sets, by name. */
export type Limits = Omit<Plan, 'id' | 'name'>;
export type LimitName = keyof Limits;

const capped = z.number().int().min(0).max(1_000_000_000).nullable().optional();
const rate = z.number().int().min(1).max(1_000_000).optional();

/**
 * A tenant's own limits, set by the platform superadmin over its plan's: a number replaces the plan's
 * value, `null` makes it unlimited, an absent field keeps the plan's. `toolConcurrency` and
 * `apiRatePerMinute` are always finite.
 */
export const LimitOverrides = z.strictObject({
  maxUsers: capped,
  packageRequestsPerMonth: capped,
  toolExecutionsPerDay: capped,
  toolConcurrency: rate,
  workspaces: capped,
  apiRatePerMinute: rate,
  uploadBytes: z
    .number()
    .int()
    .min(0)
    .max(2 ** 50)
    .nullable()
    .optional(),
});
export type LimitOverrides = z.infer<typeof LimitOverrides>;

export const limitNames = Object.keys(LimitOverrides.shape) as LimitName[];

/**
 * The limits that hold for a tenant: each override, else its plan's value (an unknown plan reads as
 * `free`). Every quota check reads its limit here, so an override reaches all of them.
 */
export function effectiveLimits(plan: string, overrides: LimitOverrides | null | undefined = {}): Limits {
  const known = PlanId.safeParse(plan);
  const { id: _, name: __, ...base } = plans[known.success ? known.data : 'free'];
  const limits: Limits = { ...base };
  for (const name of limitNames) {
    const value = overrides?.[name];
    if (value !== undefined) (limits as Record<LimitName, number | null>)[name] = value;
  }
  return limits;
}
