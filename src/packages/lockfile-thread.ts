import { parentPort } from 'node:worker_threads';
import { type LockfileKind, parseLockfileText } from './lockfile-text.ts';

/** One parse asked of the lockfile thread (see lockfile-off-thread.ts). */
export interface ParseMessage {
  id: number;
  body: string;
  kind: LockfileKind | undefined;
}

parentPort?.on('message', ({ id, body, kind }: ParseMessage) => {
  parentPort?.postMessage({ id, result: parseLockfileText(body, kind) });
});
