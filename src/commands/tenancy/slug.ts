import { z } from 'zod';

/** Words a tenant may not take: they are, or may become, Warden's own hosts and paths. */
export const reservedSlugs: ReadonlySet<string> = new Set([
  'admin',
  'api',
  'app',
  'assets',
  'auth',
  'billing',
  'cdn',
  'docs',
  'help',
  'internal',
  'login',
  'logout',
  'mail',
  'metrics',
  'oauth',
  'openapi',
  'platform',
  'registry',
  'root',
  'static',
  'status',
  'support',
  'system',
  'warden',
  'well-known',
  'www',
]);

/** Lowercase letters, digits and single hyphens inside; 3–40 characters; not reserved. */
export const TenantSlug = z
  .string()
  .min(3, 'must be at least 3 characters')
  .max(40, 'must be at most 40 characters')
  .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'only lowercase letters, digits and single hyphens inside')
  .refine((slug) => !reservedSlugs.has(slug), 'is a reserved word');
