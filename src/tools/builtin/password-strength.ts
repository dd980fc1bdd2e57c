import { z } from 'zod';
import { isCommonPassword } from '../../identity/index.ts';
import { defineTool } from '../protocol.ts';

const Parameters = z.strictObject({ password: z.string().min(1).max(256) });
const Result = z.object({
  length: z.number().int(),
  entropyBits: z.number(),
  common: z.boolean(),
  score: z.number().int().min(0).max(4),
  verdict: z.enum(['very weak', 'weak', 'fair', 'strong', 'very strong']),
  feedback: z.array(z.string()),
});

const verdicts = ['very weak', 'weak', 'fair', 'strong', 'very strong'] as const;

/** Estimates a password's strength: pool-size entropy, penalised for repeats, sequences and common passwords. */
export function passwordStrength(password: string) {
  const classes = [/[a-z]/, /[A-Z]/, /\d/, /[^a-zA-Z\d]/];
  const pool = [26, 26, 10, 33].reduce((sum, size, i) => sum + (classes[i]!.test(password) ? size : 0), 0);
  const unique = new Set(password).size;
  let entropyBits = Math.log2(Math.max(pool, 1)) * Math.min(password.length, unique * 2);
  const feedback: string[] = [];
  if (/(.)\1{2,}/.test(password)) {
    entropyBits *= 0.8;
    feedback.push('avoid repeated characters');
  }
  if (/(0123|1234|2345|3456|4567|5678|6789|abcd|bcde|qwer|asdf)/i.test(password)) {
    entropyBits *= 0.8;
    feedback.push('avoid sequences such as 1234 or qwer');
  }
  const common = isCommonPassword(password);
  if (common) {
    entropyBits = Math.min(entropyBits, 10);
    feedback.push('this is a commonly used password');
  }
  if (password.length < 12) feedback.push('use at least 12 characters');
  const score = entropyBits < 28 ? 0 : entropyBits < 36 ? 1 : entropyBits < 60 ? 2 : entropyBits < 80 ? 3 : 4;
  return {
    length: password.length,
    entropyBits: Math.round(entropyBits * 10) / 10,
    common,
    score,
    verdict: verdicts[score]!,
    feedback,
  };
}

export const passwordStrengthTool = defineTool({
  id: 'password-strength',
  name: 'Password strength',
  category: 'crypto',
  description:
    'Estimates a password’s entropy and checks it against common passwords (the password is not echoed).',
  version: '1.0.0',
  parameters: Parameters,
  result: Result,
  intrusive: false,
  secretParameters: ['password'],
  defaultTimeoutMs: 5000,
  maxTimeoutMs: 10_000,
  outputCapBytes: 16 * 1024,
  async run({ parameters, output }) {
    const result = passwordStrength(parameters.password);
    output.write('stdout', `${result.verdict} (${result.entropyBits} bits)\n`);
    return { exitCode: 0, result };
  },
});
