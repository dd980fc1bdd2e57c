export { type AdvisoryTables, advisoryFindings, namesChangedBy } from './advisories.ts';
export { bundledFinding, bundledSpecs } from './bundled.ts';
export { evaluateLicense, normalizeLicense } from './license.ts';
export { LOCKFILE_FORMATS, type LockfileFormat, parseLockfile, validPackageName } from './lockfile.ts';
export { parseLockfileOffThread } from './lockfile-off-thread.ts';
export { LOCKFILE_KINDS, type LockfileKind, parseLockfileText } from './lockfile-text.ts';
export {
  type NpmTokenRecord,
  type NpmTokenStore,
  npmTokenStore,
  npmTokenStreamId,
  npmTokenSummaries,
  revokeTokensIssuedBy,
} from './npm-tokens.ts';
export {
  type AdvisoryFeedTables,
  type FeedSyncOutcome,
  feedLabel,
  lastFeedCheck,
  syncOsvFeed,
} from './osv/feed.ts';
export type { OsvProgress } from './osv/source.ts';
export { importOsv } from './osv-import.ts';
export { type BlobStore, type BlobTables, blobStore, cachedBlobStore } from './registry/blobs.ts';
export { RegistryError } from './registry/errors.ts';
export { sameIntegrity } from './registry/integrity.ts';
export { createPublisher, type Publisher } from './registry/publish.ts';
export { readManifest } from './registry/tarball.ts';
export { createUpstream, type Download, type Upstream } from './registry/upstream.ts';
export { verifiedStream } from './registry/verified-stream.ts';
export {
  decisionOf,
  highestVersion,
  parseTarballPath,
  type TenantDecision,
  tenantPackument,
} from './registry/view.ts';
export type { ViewSource } from './registry/view-source.ts';
export { viewSource } from './registry/view-source.ts';
export { combinedScanner, manifestScanner, osvScanner, type Scanner } from './scanner.ts';
