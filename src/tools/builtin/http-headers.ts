import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { z } from 'zod';
import { fullyQualified, SINGLE_LABEL_REFUSED } from '../host-names.ts';
import { defineTool } from '../protocol.ts';

const Parameters = z.strictObject({
  url: z
    .url({ protocol: /^https?$/ })
    .max(2000)
    .refine(fullyQualified, SINGLE_LABEL_REFUSED)
    .describe('http:// or https:// URL to fetch once'),
});
const Check = z.object({ header: z.string(), present: z.boolean(), ok: z.boolean(), note: z.string() });
const Result = z.object({
  url: z.string(),
  status: z.number().int(),
  grade: z.enum(['A', 'B', 'C', 'D', 'F']),
  score: z.number().int(),
  checks: z.array(Check),
  headers: z.record(z.string(), z.string()),
});

type Headers = Record<string, string>;
/** The audited headers: each present and sound scores its weight. */
const rules: { header: string; weight: number; ok: (v: string) => boolean; note: string }[] = [
  {
    header: 'strict-transport-security',
    weight: 25,
    ok: (v) => /max-age=(\d+)/.test(v) && Number(/max-age=(\d+)/.exec(v)?.[1]) >= 15_552_000,
    note: 'HSTS with max-age of at least 180 days',
  },
  {
    header: 'content-security-policy',
    weight: 25,
    ok: (v) => !/unsafe-inline|unsafe-eval/.test(v),
    note: 'a CSP without unsafe-inline or unsafe-eval',
  },
  { header: 'x-content-type-options', weight: 15, ok: (v) => v.toLowerCase() === 'nosniff', note: 'nosniff' },
  {
    header: 'x-frame-options',
    weight: 10,
    ok: (v) => /^(deny|sameorigin)$/i.test(v),
    note: 'DENY or SAMEORIGIN (or CSP frame-ancestors)',
  },
  { header: 'referrer-policy', weight: 15, ok: (v) => !/unsafe-url/i.test(v), note: 'a referrer policy' },
  { header: 'permissions-policy', weight: 10, ok: () => true, note: 'a permissions policy' },
];

/** Scores the security headers of one answer: A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, F below. */
export function gradeHeaders(headers: Headers) {
  const checks = rules.map((rule) => {
    const value = headers[rule.header];
    return {
      header: rule.header,
      present: value !== undefined,
      ok: value !== undefined && rule.ok(value),
      note: rule.note,
    };
  });
  const score = checks.reduce((sum, c, i) => sum + (c.ok ? rules[i]!.weight : 0), 0);
  const grade = score >= 90 ? 'A' : score >= 75 ? 'B' : score >= 60 ? 'C' : score >= 40 ? 'D' : 'F';
  return { score, grade: grade as 'A' | 'B' | 'C' | 'D' | 'F', checks };
}

/** Fetches a URL once (connecting to the checked address, Host and SNI as named) and grades its security headers. */
export const httpHeaders = defineTool({
  id: 'http-headers',
  name: 'HTTP security-header audit',
  category: 'web',
  description: 'Fetches a URL once and grades its security headers (HSTS, CSP, X-Content-Type-Options, …).',
  version: '1.0.0',
  parameters: Parameters,
  result: Result,
  intrusive: false,
  target: (p) => p.url,
  defaultTimeoutMs: 15_000,
  maxTimeoutMs: 60_000,
  outputCapBytes: 64 * 1024,
  run({ parameters, address, signal, output }) {
    const url = new URL(parameters.url);
    const pinned: LookupFunction = (_host, options, callback) => {
      const family = isIP(address ?? '') || 4;
      if ((options as { all?: boolean }).all) callback(null, [{ address: address ?? '', family }]);
      else callback(null, address ?? '', family);
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        { method: 'GET', signal, ...(address ? { lookup: pinned } : {}), rejectUnauthorized: false },
        (res) => {
          res.resume();
          const headers: Headers = {};
          for (const [k, v] of Object.entries(res.headers)) {
            if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
          }
          const graded = gradeHeaders(headers);
          for (const c of graded.checks) {
            output.write('stdout', `${c.ok ? 'ok  ' : 'miss'} ${c.header}\n`);
          }
          output.write('stdout', `grade ${graded.grade} (${graded.score}/100)\n`);
          resolve({
            exitCode: 0,
            result: { url: parameters.url, status: res.statusCode ?? 0, headers, ...graded },
          });
        },
      );
      req.once('error', reject);
      req.end();
    });
  },
});
