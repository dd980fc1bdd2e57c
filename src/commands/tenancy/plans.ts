import { z } from 'zod';

export const planIds = ['free', 'basic', 'premium', 'enterprise'] as const;
export const PlanId = z.enum(planIds);
export type PlanId = z.infer<typeof PlanId>;

export interface Plan {
  id: PlanId;
  name: string;
  /** null means unlimited. */
  maxUsers: number | null;
  packageRequestsPerMonth: number | null;
  toolExecutionsPerDay: number | null;
  /** Tool executions of the tenant running at once over every worker; more wait, queued. */
  toolConcurrency: number;
  workspaces: number | null;
  /** Requests per minute for the tenant's API clients. */
  apiRatePerMinute: number;
  /** Bytes the tenant's unfinished uploads may declare at once (so also the largest one upload). */
  uploadBytes: number | null;
}

/** Plans are data: limits live here and nowhere else. */
export const plans: Readonly<Record<PlanId, Plan>> = {
  free: {
    id: 'free',
    name: 'Free',
    maxUsers: 5,
    packageRequestsPerMonth: 50,
    toolExecutionsPerDay: 20,
    toolConcurrency: 1,
    workspaces: 1,
    apiRatePerMinute: 120,
    uploadBytes: 1024 ** 3,
  },
  basic: {
    id: 'basic',
    name: 'Basic',
    maxUsers: 25,
    packageRequestsPerMonth: 500,
    toolExecutionsPerDay: 200,
    toolConcurrency: 2,
    workspaces: 5,
    apiRatePerMinute: 600,
    uploadBytes: 10 * 1024 ** 3,
  },
  premium: {
    id: 'premium',
    name: 'Premium',
    maxUsers: 250,
    packageRequestsPerMonth: 5000,
    toolExecutionsPerDay: 2000,
    toolConcurrency: 4,
    workspaces: 50,
    apiRatePerMinute: 3000,
    uploadBytes: 100 * 1024 ** 3,
  },
  enterprise: {
    id: 'enterprise',
    name: 'Enterprise',
    maxUsers: null,
    packageRequestsPerMonth: null,
    toolExecutionsPerDay: null,
    toolConcurrency: 8,
    workspaces: null,
    apiRatePerMinute: 20_000,
    uploadBytes: 1024 ** 4,
  },
};
