import { Resolver } from 'node:dns/promises';
import { z } from 'zod';
import { absoluteName, fullyQualified, SINGLE_LABEL_REFUSED } from '../host-names.ts';
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
    .max(253)
    .refine(fullyQualified, SINGLE_LABEL_REFUSED),
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
  /** How many A and AAAA answers were left out: addresses the allowlist does not let a tool reach. */
  withheld: z.record(z.string(), z.number().int()),
});

/** What the lookup asks of a resolver (node's `Resolver` has it). */
export interface DnsResolver {
  resolve(name: string, type: string): Promise<unknown>;
  cancel(): void;
}

const systemResolver = (): DnsResolver => new Resolver({ timeout: 5000, tries: 2 });

/**
 * Looks a name up in the system's DNS resolvers (the name's own servers are not contacted directly).
 * The name is the run's target, held to the tenant's allowlist as a scanner's host is; the A and AAAA
 * answers are held to it too (an allowed name may resolve to addresses no tool may reach: those are
 * counted in `withheld`, never shown).
 */
export function dnsLookupTool(resolver: () => DnsResolver = systemResolver) {
  return defineTool({
    id: 'dns-lookup',
    name: 'DNS lookup',
    category: 'dns',
    description:
      'Resolves A, AAAA, MX, TXT, CAA and NS records of a name in the allowlist through the configured resolvers.',
    version: '1.1.0',
    parameters: Parameters,
    result: Result,
    intrusive: false,
    target: (p) => p.name,
    defaultTimeoutMs: 15_000,
    maxTimeoutMs: 60_000,
    outputCapBytes: 256 * 1024,
    async run({ parameters, signal, output, mayReach }) {
      const dns = resolver();
      signal.addEventListener('abort', () => dns.cancel(), { once: true });
      const records: Record<string, string[]> = {};
      const errors: Record<string, string> = {};
      const withheld: Record<string, number> = {};
      for (const type of parameters.types) {
        try {
          // Absolute, as the target was checked: no resolver appends a search domain to it.
          const answer = ((await dns.resolve(absoluteName(parameters.name), type)) as unknown[]).map((r) =>
            typeof r === 'string' ? r : Array.isArray(r) ? r.join('') : JSON.stringify(r),
          );
          const shown = type === 'A' || type === 'AAAA' ? answer.filter((a) => mayReach(a)) : answer;
          records[type] = shown;
          if (shown.length < answer.length) withheld[type] = answer.length - shown.length;
          for (const r of shown) output.write('stdout', `${type} ${r}\n`);
        } catch (error) {
          errors[type] = (error as NodeJS.ErrnoException).code ?? String(error);
        }
        if (signal.aborted) throw signal.reason;
      }
      for (const [type, count] of Object.entries(withheld)) {
        output.write('stdout', `${type}: ${count} withheld (outside the allowlist)\n`);
      }
      return { exitCode: 0, result: { name: parameters.name, records, errors, withheld } };
    },
  });
}

export const dnsLookup = dnsLookupTool();
