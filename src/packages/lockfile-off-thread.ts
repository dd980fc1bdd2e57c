import { Worker } from 'node:worker_threads';
import { type LockfileKind, parseLockfileText } from './lockfile-text.ts';
import type { ParseMessage } from './lockfile-thread.ts';
import type { LockfileResult } from './lockfile-types.ts';

/**
 * Below this a lockfile is read in a few milliseconds: on the caller's thread. Above it (a monorepo's
 * pnpm-lock.yaml is megabytes, and YAML takes seconds per megabyte on a loaded machine) it is read on
 * a thread of its own, so the API keeps answering meanwhile.
 */
export const OFF_THREAD_BYTES = 128 * 1024;

type Pending = { resolve: (result: LockfileResult) => void; reject: (error: Error) => void };

let thread: { worker: Worker; pending: Map<number, Pending> } | undefined;
let nextId = 0;

/** The one lockfile thread of this process, started on first use; it never keeps the process alive. */
function lockfileThread() {
  if (thread) return thread;
  const worker = new Worker(new URL('./lockfile-worker.mjs', import.meta.url));
  const pending = new Map<number, Pending>();
  const current = { worker, pending };
  const fail = (error: Error) => {
    if (thread === current) thread = undefined;
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };
  worker.on('message', ({ id, result }: { id: number; result: LockfileResult }) => {
    pending.get(id)?.resolve(result);
    pending.delete(id);
    if (pending.size === 0) worker.unref();
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`the lockfile thread stopped (exit code ${code})`)));
  worker.unref();
  thread = current;
  return current;
}

/** How many lockfiles the lockfile thread is reading now (what a test waits for before it probes the API). */
export const parsesOnThread = (): number => thread?.pending.size ?? 0;

/**
 * {@link parseLockfileText}, on the lockfile thread when the text is large: the same result, without
 * holding up the event loop. Rejects only when the thread itself dies (out of memory); the next call
 * starts another.
 */
export function parseLockfileOffThread(body: string, kind?: LockfileKind): Promise<LockfileResult> {
  if (body.length < OFF_THREAD_BYTES) return Promise.resolve(parseLockfileText(body, kind));
  const { worker, pending } = lockfileThread();
  const id = nextId++;
  return new Promise<LockfileResult>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    // Referenced while a parse is under way: a process stopping waits for the answer it owes.
    worker.ref();
    worker.postMessage({ id, body, kind } satisfies ParseMessage);
  });
}
