// The data-folder lock's heartbeat, on a thread of its own (see data-folder-lock.ts): it refreshes the
// lock file's modification time every `intervalMs` while the file is still this holder's, whatever the
// main thread is doing. PGlite runs its statements on the main thread, and one that held it past the
// lock's stale limit would otherwise let a process on another host take a live folder. Plain
// JavaScript with no imports but Node's, so any runtime starts it as it is, from `src` or `dist`.
import { readFileSync, utimesSync } from 'node:fs';
import { workerData } from 'node:worker_threads';

const { path, id, intervalMs } = workerData;

setInterval(() => {
  try {
    if (JSON.parse(readFileSync(path, 'utf8'))?.id !== id) return;
    const now = new Date();
    utimesSync(path, now, now);
  } catch {
    // The next beat tries again; a folder gone or unwritable fails the database first.
  }
}, intervalMs);
