import { connect, type PeerCertificate } from 'node:tls';
import { z } from 'zod';
import { sniName, targetHost } from '../host-names.ts';
import { defineTool } from '../protocol.ts';

const Parameters = z.strictObject({
  host: targetHost('Host name (sent as SNI) or address'),
  port: z.number().int().min(1).max(65_535).default(443),
});
const Result = z.object({
  host: z.string(),
  address: z.string(),
  port: z.number().int(),
  protocol: z.string().nullable(),
  cipher: z.string().nullable(),
  authorized: z.boolean(),
  authorizationError: z.string().nullable(),
  certificate: z
    .object({
      subject: z.string(),
      issuer: z.string(),
      validFrom: z.string(),
      validTo: z.string(),
      fingerprint256: z.string(),
      serialNumber: z.string(),
      subjectAltName: z.string().nullable(),
    })
    .nullable(),
});

const dn = (name: object | undefined) =>
  Object.entries(name ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ');

/** One TLS handshake: the negotiated protocol and cipher, and the certificate the server shows. */
export const tlsInspect = defineTool({
  id: 'tls-inspect',
  name: 'TLS inspection',
  category: 'tls',
  description: 'Connects once over TLS and reports the protocol, cipher and the server certificate.',
  version: '1.0.1',
  parameters: Parameters,
  result: Result,
  intrusive: true,
  target: (p) => p.host,
  defaultTimeoutMs: 15_000,
  maxTimeoutMs: 120_000,
  outputCapBytes: 64 * 1024,
  run({ parameters, address, signal, output }) {
    const target = address ?? parameters.host;
    const servername = sniName(parameters.host);
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: target,
        port: parameters.port,
        ...(servername === null ? {} : { servername }),
        rejectUnauthorized: false,
      });
      const onAbort = () => {
        socket.destroy();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('error', (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      });
      socket.once('secureConnect', () => {
        signal.removeEventListener('abort', onAbort);
        const cert = socket.getPeerCertificate() as PeerCertificate | undefined;
        const hasCert = cert && Object.keys(cert).length > 0;
        const result = {
          host: parameters.host,
          address: target,
          port: parameters.port,
          protocol: socket.getProtocol(),
          cipher: socket.getCipher()?.name ?? null,
          authorized: socket.authorized,
          authorizationError: socket.authorizationError ? String(socket.authorizationError) : null,
          certificate: hasCert
            ? {
                subject: dn(cert.subject),
                issuer: dn(cert.issuer),
                validFrom: cert.valid_from,
                validTo: cert.valid_to,
                fingerprint256: cert.fingerprint256,
                serialNumber: cert.serialNumber,
                subjectAltName: cert.subjectaltname ?? null,
              }
            : null,
        };
        socket.end();
        output.write(
          'stdout',
          `${result.protocol} ${result.cipher}; certificate ${result.certificate?.subject ?? 'none'}\n`,
        );
        resolve({ exitCode: 0, result });
      });
    });
  },
});
