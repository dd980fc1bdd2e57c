import { z } from 'zod';
import { defineTool } from '../protocol.ts';

const Parameters = z.strictObject({ hash: z.string().trim().min(1).max(1024) });
const Result = z.object({
  hash: z.string(),
  candidates: z.array(z.object({ name: z.string(), hashcat: z.number().int().nullable() })),
});

/** Formats by shape, most specific first: the hashcat mode where there is one. */
const formats: [RegExp, string, number | null][] = [
  [/^\$argon2(id|i|d)\$/, 'Argon2', null],
  [/^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$/, 'bcrypt', 3200],
  [/^\$6\$/, 'SHA-512 crypt', 1800],
  [/^\$5\$/, 'SHA-256 crypt', 7400],
  [/^\$1\$/, 'MD5 crypt', 500],
  [/^\$apr1\$/, 'Apache MD5', 1600],
  [/^\$P\$|^\$H\$/, 'phpass (WordPress, phpBB)', 400],
  [/^pbkdf2_sha256\$/, 'Django PBKDF2-SHA256', 10000],
  [/^scrypt:|^\$scrypt\$/, 'scrypt', 8900],
  [/^[a-f0-9]{32}$/i, 'MD5', 0],
  [/^[a-f0-9]{32}$/i, 'NTLM', 1000],
  [/^[a-f0-9]{32}$/i, 'MD4', 900],
  [/^[a-f0-9]{40}$/i, 'SHA-1', 100],
  [/^[a-f0-9]{40}$/i, 'RIPEMD-160', 6000],
  [/^[a-f0-9]{56}$/i, 'SHA-224', 1300],
  [/^[a-f0-9]{64}$/i, 'SHA-256', 1400],
  [/^[a-f0-9]{64}$/i, 'SHA3-256', 17400],
  [/^[a-f0-9]{96}$/i, 'SHA-384', 10800],
  [/^[a-f0-9]{128}$/i, 'SHA-512', 1700],
  [/^[a-f0-9]{128}$/i, 'SHA3-512', 17600],
  [/^[a-f0-9]{8}$/i, 'CRC32', 11500],
  [/^[a-f0-9]{16}$/i, 'MySQL 3.23 / half MD5', 200],
  [/^\*[A-F0-9]{40}$/i, 'MySQL 4.1+', 300],
  [/^sha(1|256|384|512)-[A-Za-z0-9+/]+=*$/, 'Subresource integrity digest', null],
];

/** Names the hash formats a string could be, by its shape (several for a plain hex digest). */
export function identifyHash(hash: string) {
  return formats.filter(([re]) => re.test(hash)).map(([, name, hashcat]) => ({ name, hashcat }));
}

export const hashIdentify = defineTool({
  id: 'hash-identify',
  name: 'Hash identification',
  category: 'crypto',
  description:
    'Names the formats a hash could be in (MD5, SHA-*, bcrypt, Argon2, …) and their hashcat modes.',
  version: '1.0.0',
  parameters: Parameters,
  result: Result,
  intrusive: false,
  defaultTimeoutMs: 5000,
  maxTimeoutMs: 10_000,
  outputCapBytes: 16 * 1024,
  async run({ parameters, output }) {
    const candidates = identifyHash(parameters.hash);
    for (const c of candidates)
      output.write('stdout', `${c.name}${c.hashcat === null ? '' : ` (hashcat ${c.hashcat})`}\n`);
    if (candidates.length === 0) output.write('stdout', 'unknown format\n');
    return { exitCode: 0, result: { hash: parameters.hash, candidates } };
  },
});
