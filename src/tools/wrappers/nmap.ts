import { z } from 'zod';
import { PortList } from '../builtin/ports.ts';
import { targetHost } from '../host-names.ts';
import { defineTool } from '../protocol.ts';
import { elements } from './xml.ts';

const Parameters = z.strictObject({
  host: targetHost('Host name or address (must be in the allowlist)'),
  ports: PortList.optional().describe('Ports and ranges; nmap’s top 100 when absent'),
  serviceDetection: z.boolean().default(false).describe('-sV: probe open ports for service versions'),
  timing: z.number().int().min(0).max(5).default(3).describe('-T0 … -T5'),
});
const Port = z.object({
  protocol: z.string(),
  port: z.number().int(),
  state: z.string(),
  reason: z.string().nullable(),
  service: z.string().nullable(),
  product: z.string().nullable(),
  version: z.string().nullable(),
});
const Result = z.object({
  hosts: z.array(
    z.object({
      address: z.string(),
      hostnames: z.array(z.string()),
      status: z.string(),
      ports: z.array(Port),
    }),
  ),
  open: z.array(z.number().int()),
  elapsedSeconds: z.number().nullable(),
});
export type NmapResult = z.infer<typeof Result>;

/** nmap's XML report (`-oX -`) as the result schema: hosts, their ports, states and services. */
export function parseNmapXml(xml: string): NmapResult {
  const hosts = elements(xml, 'host').map((host) => {
    const address = elements(host.inner, 'address').find((a) => a.attributes.addrtype !== 'mac');
    const ports = elements(host.inner, 'port').map((port) => {
      const state = elements(port.inner, 'state')[0]?.attributes ?? {};
      const service = elements(port.inner, 'service')[0]?.attributes ?? {};
      return {
        protocol: port.attributes.protocol ?? 'tcp',
        port: Number(port.attributes.portid),
        state: state.state ?? 'unknown',
        reason: state.reason ?? null,
        service: service.name ?? null,
        product: service.product ?? null,
        version: service.version ?? null,
      };
    });
    return {
      address: address?.attributes.addr ?? '',
      hostnames: elements(host.inner, 'hostname').map((h) => h.attributes.name ?? ''),
      status: elements(host.inner, 'status')[0]?.attributes.state ?? 'unknown',
      ports,
    };
  });
  const finished = elements(xml, 'finished')[0]?.attributes.elapsed;
  return {
    hosts,
    open: [
      ...new Set(hosts.flatMap((h) => h.ports.filter((p) => p.state === 'open').map((p) => p.port))),
    ].sort((a, b) => a - b),
    elapsedSeconds: finished === undefined ? null : Number(finished),
  };
}

/** The nmap binary, run as a TCP connect scan (no raw sockets: it runs unprivileged), its XML parsed. */
export const nmap = defineTool({
  id: 'nmap',
  name: 'nmap',
  category: 'network',
  description:
    'Port and service scan by nmap (TCP connect scan, -Pn), its XML report parsed into hosts and ports.',
  version: '1.0.0',
  binary: 'nmap',
  parameters: Parameters,
  result: Result,
  intrusive: true,
  target: (p) => p.host,
  defaultTimeoutMs: 300_000,
  maxTimeoutMs: 1_800_000,
  outputCapBytes: 4 * 1024 * 1024,
  async run({ parameters, address, signal, output, processes }) {
    const ports = parameters.ports;
    const argv = [
      'nmap',
      '-sT',
      '-Pn',
      '-n',
      `-T${parameters.timing}`,
      ...(ports ? ['-p', compress(ports)] : ['--top-ports', '100']),
      ...(parameters.serviceDetection ? ['-sV'] : []),
      '-oX',
      '-',
      '--',
      address ?? parameters.host,
    ];
    const run = await processes.run(argv, { signal, output, collectStdout: true });
    if (signal.aborted) throw signal.reason;
    if (run.exitCode !== 0) {
      throw Object.assign(new Error(`nmap exited with ${run.exitCode ?? run.signal}`), {
        exitCode: run.exitCode,
      });
    }
    return { exitCode: run.exitCode, result: parseNmapXml(run.stdout) };
  },
});

/** [22, 80, 81, 82] → `22,80-82` (the argument stays short for long ranges). */
function compress(ports: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < ports.length; ) {
    let j = i;
    while (j + 1 < ports.length && ports[j + 1] === ports[j]! + 1) j++;
    parts.push(i === j ? `${ports[i]}` : `${ports[i]}-${ports[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
