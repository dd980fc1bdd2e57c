import { z } from 'zod';
import { defineTool } from '../protocol.ts';

const Parameters = z.strictObject({
  package: z
    .string()
    .trim()
    .max(300)
    .regex(/^(@[a-z0-9._-]+\/)?[a-z0-9._-]+@[0-9][\w.+-]*$/i, 'must be name@version, e.g. lodash@4.17.20'),
});
const Result = z.object({
  name: z.string(),
  version: z.string(),
  advisories: z.array(
    z.object({ id: z.string(), summary: z.string(), severity: z.string(), aliases: z.array(z.string()) }),
  ),
});

/** Looks `name@version` up in the OSV advisories the package firewall holds (`warden osv import`). */
export const osvLookup = defineTool({
  id: 'osv-lookup',
  name: 'Advisory lookup',
  category: 'supply-chain',
  description:
    'Lists the OSV advisories affecting an npm package version, from the firewall’s advisory data.',
  version: '1.0.0',
  parameters: Parameters,
  result: Result,
  intrusive: false,
  defaultTimeoutMs: 10_000,
  maxTimeoutMs: 60_000,
  outputCapBytes: 256 * 1024,
  async run({ parameters, advisories, output }) {
    const at = parameters.package.lastIndexOf('@');
    const name = parameters.package.slice(0, at);
    const version = parameters.package.slice(at + 1);
    const found = await advisories(name, version);
    for (const a of found) output.write('stdout', `${a.id} ${a.severity} ${a.summary}\n`);
    output.write('stdout', `${found.length} advisories affect ${name}@${version}\n`);
    return { exitCode: 0, result: { name, version, advisories: found } };
  },
});
