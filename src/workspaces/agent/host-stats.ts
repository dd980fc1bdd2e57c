import { statfs } from 'node:fs/promises';
import { cpus, freemem, loadavg, totalmem } from 'node:os';

export interface HostStats {
  cpu: { cores: number; load1: number };
  memory: { total_bytes: number; free_bytes: number };
  disk: { total_bytes: number; free_bytes: number };
}

/** CPU, memory and the disk holding `dir`, as the operating system reports them. */
export async function hostStats(dir: string): Promise<HostStats> {
  const disk = await statfs(dir);
  return {
    cpu: { cores: cpus().length, load1: loadavg()[0] ?? 0 },
    memory: { total_bytes: totalmem(), free_bytes: freemem() },
    disk: { total_bytes: disk.blocks * disk.bsize, free_bytes: disk.bavail * disk.bsize },
  };
}
