import { Socket } from 'node:net';
import { z } from 'zod';
import { targetHost } from '../host-names.ts';
import { defineTool } from '../protocol.ts';
import { PortList } from './ports.ts';

const Parameters = z.strictObject({
  host: targetHost('Host name or address to scan (must be in the allowlist)'),
  ports: PortList.describe('Ports and ranges, e.g. 22,80,8000-8100'),
  concurrency: z.number().int().min(1).max(200).default(50).describe('Connections open at once'),
  connectTimeoutMs: z.number().int().min(50).max(10_000).default(1000),
});
const PortState = z.enum(['open', 'closed', 'filtered']);
const Result = z.object({
  host: z.string(),
  address: z.string(),
  /** Open and filtered ports (closed ones are only counted: a result stays small). */
  ports: z.array(z.object({ port: z.number().int(), state: PortState })),
  open: z.array(z.number().int()),
  closed: z.number().int(),
});

function probe(address: string, port: number, timeoutMs: number, signal: AbortSignal) {
  return new Promise<z.infer<typeof PortState>>((resolve) => {
    const socket = new Socket();
    const done = (state: z.infer<typeof PortState>) => {
      socket.destroy();
      signal.removeEventListener('abort', onAbort);
      resolve(state);
    };
    const onAbort = () => done('filtered');
    signal.addEventListener('abort', onAbort, { once: true });
    socket.setTimeout(timeoutMs, () => done('filtered'));
    socket.once('connect', () => done('open'));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done(error.code === 'ECONNREFUSED' ? 'closed' : 'filtered'),
    );
    socket.connect({ host: address, port });
  });
}

/** TCP connect scan with bounded concurrency: a port is open when a connection is accepted. */
export const portScan = defineTool({
  id: 'port-scan',
  name: 'TCP port scan',
  category: 'network',
  description: 'TCP connect scan of a host’s ports with bounded concurrency (no raw packets).',
  version: '1.0.0',
  parameters: Parameters,
  result: Result,
  intrusive: true,
  target: (p) => p.host,
  defaultTimeoutMs: 60_000,
  maxTimeoutMs: 600_000,
  outputCapBytes: 1024 * 1024,
  async run({ parameters, address, signal, output }) {
    const target = address ?? parameters.host;
    const queue = [...parameters.ports];
    const states = new Map<number, z.infer<typeof PortState>>();
    let done = 0;
    const worker = async () => {
      for (let port = queue.shift(); port !== undefined && !signal.aborted; port = queue.shift()) {
        const state = await probe(target, port, parameters.connectTimeoutMs, signal);
        states.set(port, state);
        done++;
        if (state === 'open') output.write('stdout', `${port}/tcp open\n`);
        if (done % 100 === 0) output.progress(done / parameters.ports.length);
      }
    };
    await Promise.all(Array.from({ length: Math.min(parameters.concurrency, queue.length) }, worker));
    if (signal.aborted) throw signal.reason;
    const all = [...states].sort(([a], [b]) => a - b).map(([port, state]) => ({ port, state }));
    const ports = all.filter((p) => p.state !== 'closed');
    const open = ports.filter((p) => p.state === 'open').map((p) => p.port);
    output.write('stdout', `${open.length} open of ${all.length} scanned on ${target}\n`);
    return {
      exitCode: 0,
      result: { host: parameters.host, address: target, ports, open, closed: all.length - ports.length },
    };
  },
});
