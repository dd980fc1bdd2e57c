export { advisoryMonitor } from './advisory-monitor.ts';
export { type PackageJobs, startPackageJobs } from './jobs.ts';
export { packagePipeline } from './pipeline.ts';
