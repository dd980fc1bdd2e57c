import os from 'node:os';
import type { Throughput } from './measure.ts';

/** One line of the printed table. */
export interface Row {
  figure: string;
  value: number | null;
  unit: string;
  /** Name and value of the ratio this row is judged by, when it has one. */
  ratio?: { name: string; value: number | null };
  /** Human-readable target, e.g. "≥ 0.6"; absent for plain measurements. */
  target?: string;
  met?: boolean | null;
}

export function formatNumber(value: number | null): string {
  if (value === null || Number.isNaN(value)) return 'n/a';
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(2);
}

export function printTable(rows: readonly Row[]): void {
  const cells = rows.map((r) => [
    r.figure,
    formatNumber(r.value),
    r.unit,
    r.ratio ? `${r.ratio.name} = ${formatNumber(r.ratio.value)}` : '',
    r.target ?? '',
    r.met === undefined ? '' : r.met === null ? 'n/a' : r.met ? 'yes' : 'NO',
  ]);
  const header = ['figure', 'value', 'unit', 'ratio', 'target', 'met?'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) =>
    c.map((cell, i) => (i === 1 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) console.log(line(c));
}

/** Rounds rates to whole numbers and ratios to three decimals for the JSON line. */
export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * CPU cost per event of each workload, as measured in its windows (medians), and the rate that cost
 * allows when this machine's cores do nothing else: client and server share them here, so no run on
 * it can go faster, however quiet the machine.
 */
export function printCosts(rows: readonly [string, Throughput][]): void {
  const cores = os.availableParallelism();
  const cells = rows.map(([name, t]) => {
    const client = t.cpu?.clientMicros;
    const server = t.cpu?.serverMicros;
    const total = client === undefined || server === undefined || server === null ? null : client + server;
    return [
      name,
      client === undefined ? 'n/a' : client.toFixed(1),
      server === undefined || server === null ? 'n/a' : server.toFixed(1),
      client === undefined ? 'n/a' : (client + (server ?? 0)).toFixed(1),
      total === null ? 'n/a' : formatNumber(Math.round((cores * 1e6) / total)),
    ];
  });
  const header = [
    'workload',
    'client µs/event',
    'server µs/event',
    'total µs/event',
    `ceiling on ${cores} cores (events/s)`,
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) =>
    c.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) console.log(line(c));
}

/**
 * One figure judged against its target. Every benchmark puts its list in its last line's JSON as
 * `verdicts`; `npm run bench:all` collects them into the README's Measured table.
 */
export interface Verdict {
  figure: string;
  value: number | null;
  /** e.g. "≥ 0.5" */
  target: string;
  met: boolean | null;
}

const comparisons = {
  '≥': (a: number, b: number) => a >= b,
  '≤': (a: number, b: number) => a <= b,
  '<': (a: number, b: number) => a < b,
  '>': (a: number, b: number) => a > b,
} as const;

/** `value` judged by `op` against `target`; a figure the run could not measure is `met: null`. */
export function verdict(
  figure: string,
  value: number | null | undefined,
  op: keyof typeof comparisons,
  target: number,
): Verdict {
  const measured = value === undefined || value === null || Number.isNaN(value) ? null : value;
  return {
    figure,
    value: measured,
    target: `${op} ${target.toLocaleString('en')}`,
    met: measured === null ? null : comparisons[op](measured, target),
  };
}
