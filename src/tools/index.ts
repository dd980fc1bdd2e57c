export { type DnsResolver, dnsLookupTool } from './builtin/dns-lookup.ts';
export { identifyHash } from './builtin/hash-identify.ts';
export { gradeHeaders } from './builtin/http-headers.ts';
export { passwordStrength } from './builtin/password-strength.ts';
export { builtinTools, type Catalog, type CatalogEntry, catalog, describeTool } from './catalog.ts';
export {
  absoluteName,
  fullyQualified,
  hostOf,
  isSingleLabel,
  SINGLE_LABEL_REFUSED,
  sniName,
} from './host-names.ts';
export {
  appendFrames,
  CANCEL_CHANNEL,
  type Frame,
  type FrameKind,
  frameKinds,
  OUTPUT_CHANNEL,
  type OutputWriter,
  outputWriter,
  readFrames,
  statusData,
  type ToolOutputTables,
} from './output.ts';
export { expiredData, type OutputRetention, outputRetention, outputText } from './output-retention.ts';
export {
  defaultLimits,
  findExecutable,
  type ProcessLimits,
  type ProcessRunnerOptions,
  processRunner,
} from './process.ts';
export {
  type AdvisoryLookup,
  defineTool,
  type OutputSink,
  type ProcessRunner,
  TargetRefusedError,
  type Tool,
  type ToolCategory,
  type ToolContext,
  toolCategories,
} from './protocol.ts';
export { type StreamHub, type StreamHubOptions, type Subscriber, streamHub } from './stream-hub.ts';
export { type Resolve, systemResolve, type TargetChecker, targetChecker } from './targets.ts';
export { type NmapResult, parseNmapXml } from './wrappers/nmap.ts';
export { parseSslscanXml, type SslscanResult, sslscanArguments } from './wrappers/sslscan.ts';
