export { clientAddress, forwardedByTrustedProxy } from './client-address.ts';
export type { AppEnv } from './env.ts';
export { escapeHtml, prefersHtml } from './negotiate.ts';
export { commonProblems, IfMatchHeader, jsonContent, problemContent } from './openapi.ts';
export {
  containsPattern,
  decodeCursor,
  encodeCursor,
  keysetAfter,
  pageWithCursor,
  parseSort,
} from './pagination.ts';
export { etagOf } from './preconditions.ts';
export { problemResponse, RequestError } from './problem.ts';
export {
  type ProblemCode,
  type ProblemDescription,
  problemCatalogue,
  problemCodes,
  problemType,
} from './problem-catalogue.ts';
export { type Creation, type ProjectionWaiter, type ReadModels, readModels } from './read-models.ts';
export { readTables } from './read-tables.ts';
export { keepBodyText, nodeBody, readRequestBody } from './request-body.ts';
export { rememberUrl, requestUrl } from './request-url.ts';
export {
  actingContext,
  actorIdOf,
  actsAsOwner,
  callerContext,
  commandContext,
  principalOf,
  requestOrigin,
  signedInUserOf,
  tenantOf,
  USER_AGENT_MAX,
} from './scope.ts';
export { validationHook, zodFieldErrors } from './validation.ts';
