import type { IdentityStack } from './identity-stack.ts';
import type { Metrics } from './metrics/metrics.ts';
import type { OAuthServer } from './oauth/index.ts';
import type { OutputRetention } from './tools/index.ts';
import type { UploadExpiry } from './workspaces/index.ts';

/**
 * The cleanup process: expired login throttles, ended rate-limit windows, token families and denylist entries, authorization
 * codes, pending authorization requests, sign-in sessions and one-time ids, expired workspace tickets
 * and sessions (with `workspaceAccess`), (with `uploads`) the
 * expiry of abandoned uploads (no byte for `WARDEN_UPLOAD_EXPIRY_MS`: recorded, partial file deleted),
 * and (with `outputs`) runs' output past `WARDEN_OUTPUT_RETENTION_DAYS`. Correctness never depends
 * on it (every check also reads expiry); it keeps the tables small. Its work is counted in
 * `warden_cleanup_removed_total{kind}`.
 */
export async function sweepExpired(
  identity: IdentityStack,
  oauth: OAuthServer,
  metrics?: Metrics,
  uploads?: UploadExpiry,
  workspaceAccess?: () => Promise<number>,
  outputs?: OutputRetention,
) {
  const [own, protocol, expiredUploads, workspaceSessions, outputFrames] = await Promise.all([
    identity.sweep(),
    oauth.sweep(),
    uploads ? uploads.sweep() : 0,
    workspaceAccess ? workspaceAccess() : 0,
    outputs ? outputs.sweep() : 0,
  ]);
  const counts = {
    login_throttle: own.throttle,
    rate_limits: own.rateLimits,
    token_families: own.sessions,
    oauth_codes: protocol.codes,
    oauth_requests: protocol.requests,
    oauth_sessions: protocol.sessions,
    oauth_one_time_ids: protocol.assertions,
    uploads_expired: expiredUploads,
    workspace_sessions: workspaceSessions,
    output_frames: outputFrames,
  };
  for (const [kind, removed] of Object.entries(counts)) {
    // Counted even when zero, so the series exists from the first sweep on.
    metrics?.cleanupRemoved.inc({ kind }, removed);
  }
  return counts;
}
