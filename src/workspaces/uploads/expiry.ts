import { expireUpload, findAgent } from '../../commands/workspaces/index.ts';
import type { EventStore } from '../../eventstore/port.ts';
import { agentUploads } from '../client/agent-uploads.ts';

export interface UploadExpiryOptions {
  store: EventStore;
  /** The agents' signing keys (`agentKeys`). */
  keys: { get(agentId: string): Promise<string | undefined> };
  clock: () => Date;
  /** An unfinished upload with no progress for this long expires (`WARDEN_UPLOAD_EXPIRY_MS`; 0: never). */
  expiryMs: number;
  /** How long an agent is given to say how far an upload got (10 s). */
  askTimeoutMs?: number;
}

interface OpenUpload {
  tenantId: string;
  uploadId: string;
  agentId: string;
  startedAt: string;
  /** The newest progress heard of: its start, then its agent's last byte. */
  lastSeen: string;
  /** Since when its agent has not answered, each run in a row (this process's runs). */
  unanswered?: number | undefined;
}

const TYPES = ['UploadStarted', 'UploadCompleted', 'UploadFailed', 'UploadExpired'];
const PAGE = 1000;

/**
 * The expiry of abandoned uploads, run by the sweep: it follows the upload events of every tenant (from
 * where it stopped last time, so a run reads only what is new) to know the unfinished uploads, asks each
 * one's agent when its last byte arrived, and expires those idle for `expiryMs`: `UploadExpired` on the
 * tenant's uploads stream (their declared bytes count no longer), then the partial file is deleted on
 * the agent. An agent that does not answer is asked again next run; one silent through a whole expiry
 * (each run since the first it missed) counts as idle, and the upload expires. Safe in several
 * processes at once: the event's id derives from the upload, and the decider expires an upload once.
 */
export function uploadExpiry(options: UploadExpiryOptions) {
  const { store, keys, clock, expiryMs } = options;
  const open = new Map<string, OpenUpload>();
  let after = 0n;

  async function catchUp() {
    for (;;) {
      const page = await store.readAll({ after, limit: PAGE, types: TYPES });
      for (const event of page) {
        after = event.position;
        const data = event.data as { uploadId: string; tenantId: string; agentId?: string; at: string };
        if (event.type === 'UploadStarted' && data.agentId) {
          open.set(data.uploadId, {
            tenantId: data.tenantId,
            uploadId: data.uploadId,
            agentId: data.agentId,
            startedAt: data.at,
            lastSeen: data.at,
          });
        } else {
          open.delete(data.uploadId);
        }
      }
      if (page.length < PAGE) return;
    }
  }

  const agentFor = async (upload: OpenUpload) => {
    const agent = await findAgent(store, upload.tenantId, upload.agentId);
    const key = agent && (await keys.get(upload.agentId));
    return agent && key
      ? agentUploads({ url: agent.state.url, key, clock, timeoutMs: options.askTimeoutMs ?? 10_000 })
      : undefined;
  };

  return {
    /** Expires the idle unfinished uploads; answers how many. */
    async sweep(): Promise<number> {
      if (expiryMs <= 0) return 0;
      await catchUp();
      let expired = 0;
      for (const upload of [...open.values()]) {
        const now = clock();
        if (now.getTime() - Date.parse(upload.lastSeen) <= expiryMs) continue;
        const agent = await agentFor(upload).catch(() => undefined);
        if (agent) {
          try {
            const progress = await agent.progress(upload.uploadId);
            upload.unanswered = undefined;
            if (progress?.updated_at && progress.updated_at > upload.lastSeen) {
              upload.lastSeen = progress.updated_at;
            }
          } catch {
            // The agent did not answer: its upload may be moving, so it is asked again next run. An
            // agent silent for a whole expiry, run after run, takes no bytes either (every PATCH goes
            // through it): its upload expires, and stops holding the tenant's upload quota.
            upload.unanswered ??= now.getTime();
            if (now.getTime() - upload.unanswered <= expiryMs) continue;
          }
        }
        const idleSince = upload.lastSeen;
        if (now.getTime() - Date.parse(idleSince) <= expiryMs) continue;
        await expireUpload(
          store,
          { tenantId: upload.tenantId, uploadId: upload.uploadId, idleSince, at: now.toISOString() },
          {
            metadata: { tenantId: upload.tenantId, actorId: 'process:upload-expiry' },
            commandId: `upload-expiry:${upload.uploadId}`,
          },
        );
        await agent?.remove(upload.uploadId).catch(() => undefined);
        open.delete(upload.uploadId);
        expired++;
      }
      return expired;
    },
  };
}

export type UploadExpiry = ReturnType<typeof uploadExpiry>;
