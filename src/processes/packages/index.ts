export { advisoryMonitor } from './advisory-monitor.ts';
export { type PackageJobs, startPackageJobs } from './jobs.ts';
export { npmTokenIssuers } from './npm-token-issuers.ts';
export { OSV_FEED_LEASE, type OsvFeedSync, startOsvFeedSync } from './osv-feed-sync.ts';
export { packagePipeline } from './pipeline.ts';
