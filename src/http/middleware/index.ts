export { authenticate } from './authenticate.ts';
export { ownTenantOnly, requirePermission } from './authorize.ts';
export { onError } from './errors.ts';
export { formBody } from './form-body.ts';
export { forgetResponsesAbout, idempotency } from './idempotency.ts';
export { jsonBody } from './json-body.ts';
export { rateLimit } from './rate-limit.ts';
export { requestContext } from './request-context.ts';
export { resolveTenant, tenantAwarePath } from './tenant.ts';
