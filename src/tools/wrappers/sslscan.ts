import { isIP } from 'node:net';
import { z } from 'zod';
import { sniName, targetHost } from '../host-names.ts';
import { defineTool } from '../protocol.ts';
import { elements } from './xml.ts';

const Parameters = z.strictObject({
  host: targetHost('Host name (sent as SNI) or address'),
  port: z.number().int().min(1).max(65_535).default(443),
});
const Result = z.object({
  protocols: z.array(z.object({ type: z.string(), version: z.string(), enabled: z.boolean() })),
  ciphers: z.array(
    z.object({ status: z.string(), sslversion: z.string(), cipher: z.string(), bits: z.number().int() }),
  ),
  certificate: z
    .object({
      subject: z.string().nullable(),
      issuer: z.string().nullable(),
      notAfter: z.string().nullable(),
    })
    .nullable(),
  findings: z.array(z.string()),
});
export type SslscanResult = z.infer<typeof Result>;

/** sslscan's XML report (`--xml=-`) as findings: enabled legacy protocols, weak ciphers, the certificate. */
export function parseSslscanXml(xml: string): SslscanResult {
  const protocols = elements(xml, 'protocol').map((p) => ({
    type: p.attributes.type ?? '',
    version: p.attributes.version ?? '',
    enabled: p.attributes.enabled === '1',
  }));
  const ciphers = elements(xml, 'cipher').map((c) => ({
    status: c.attributes.status ?? '',
    sslversion: c.attributes.sslversion ?? '',
    cipher: c.attributes.cipher ?? '',
    bits: Number(c.attributes.bits ?? 0),
  }));
  const cert = elements(xml, 'certificate')[0];
  const text = (name: string) => (cert ? (elements(cert.inner, name)[0]?.inner.trim() ?? null) : null);
  const findings = [
    ...protocols
      .filter(
        (p) => p.enabled && (p.type === 'ssl' || (p.type === 'tls' && ['1.0', '1.1'].includes(p.version))),
      )
      .map((p) => `legacy protocol enabled: ${p.type.toUpperCase()}v${p.version}`),
    ...ciphers
      .filter((c) => c.bits > 0 && c.bits < 128)
      .map((c) => `weak cipher: ${c.cipher} (${c.bits} bits)`),
  ];
  return {
    protocols,
    ciphers,
    certificate: cert
      ? { subject: text('subject'), issuer: text('issuer'), notAfter: text('not-valid-after') }
      : null,
    findings,
  };
}

/**
 * sslscan's command line for a scan of `parameters.host` at `address` (the address it was checked
 * as). sslscan reads `host:port` up to the first colon, so an IPv6 address goes in brackets.
 */
export function sslscanArguments(
  parameters: { host: string; port: number },
  address: string | null,
): string[] {
  const sni = sniName(parameters.host);
  const at = address ?? parameters.host;
  return [
    'sslscan',
    '--no-colour',
    '--xml=-',
    ...(sni === null ? [] : [`--sni-name=${sni}`]),
    `${isIP(at) === 6 ? `[${at}]` : at}:${parameters.port}`,
  ];
}

/** The sslscan binary: protocols and ciphers a TLS server accepts, its XML report parsed into findings. */
export const sslscan = defineTool({
  id: 'sslscan',
  name: 'sslscan',
  category: 'tls',
  description: 'TLS protocol and cipher scan by sslscan, its XML report parsed into findings.',
  version: '1.0.1',
  binary: 'sslscan',
  parameters: Parameters,
  result: Result,
  intrusive: true,
  target: (p) => p.host,
  defaultTimeoutMs: 120_000,
  maxTimeoutMs: 600_000,
  outputCapBytes: 1024 * 1024,
  async run({ parameters, address, signal, output, processes }) {
    const run = await processes.run(sslscanArguments(parameters, address), {
      signal,
      output,
      collectStdout: true,
    });
    if (signal.aborted) throw signal.reason;
    if (run.exitCode !== 0) {
      throw Object.assign(new Error(`sslscan exited with ${run.exitCode ?? run.signal}`), {
        exitCode: run.exitCode,
      });
    }
    return { exitCode: run.exitCode, result: parseSslscanXml(run.stdout) };
  },
});
