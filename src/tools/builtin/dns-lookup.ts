import { Resolver } from 'node:dns/promises';
import { z } from 'zod';
import { defineTool } from '../protocol.ts';

const recordTypes = ['A', 'AAAA', 'MX', 'TXT', 'CAA', 'NS'] as const;
const Parameters = z.strictObject({
  name: z
    .string()
    .trim()
    .toLowerCase()
    .regex(
      /^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?$/,
      'must be a domain name',
    )
    .max(253),
  types: z
    .array(z.enum(recordTypes))
    .min(1)
    .max(6)
    .default([...recordTypes]),
});
const Result = z.object({
  name: z.string(),
  records: z.record(z.string(), z.array(z.string())),
  errors: z.record(z.string(), z.string()),
});

/** Looks a name up in the system's DNS resolvers (the name's own servers are not contacted directly). */
export const dnsLookup = defineTool({
  id: 'dns-lookup',
  name: 'DNS lookup',
  category: 'dns',
  description: 'Resolves A, AAAA, MX, TXT, CAA and NS records of a name through the configured resolvers.',
  version: '1.0.0',
  parameters: Parameters,
  result: Result,
  intrusive: false,
  defaultTimeoutMs: 15_000,
  maxTimeoutMs: 60_000,
  outputCapBytes: 256 * 1024,
  async run({ parameters, signal, output }) {
    const resolver = new Resolver({ timeout: 5000, tries: 2 });
    signal.addEventListener('abort', () => resolver.cancel(), { once: true });
    const records: Record<string, string[]> = {};
    const errors: Record<string, string> = {};
    for (const type of parameters.types) {
      try {
        const answer = await resolver.resolve(parameters.name, type);
        records[type] = (answer as unknown[]).map((r) =>
          typeof r === 'string' ? r : Array.isArray(r) ? r.join('') : JSON.stringify(r),
        );
        for (const r of records[type]) output.write('stdout', `${type} ${r}\n`);
      } catch (error) {
        errors[type] = (error as NodeJS.ErrnoException).code ?? String(error);
      }
      if (signal.aborted) throw signal.reason;
    }
    return { exitCode: 0, result: { name: parameters.name, records, errors } };
  },
});
