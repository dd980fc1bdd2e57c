import type { z } from 'zod';

export const toolCategories = ['network', 'tls', 'web', 'dns', 'crypto', 'supply-chain'] as const;
export type ToolCategory = (typeof toolCategories)[number];

/** Where a run's output goes: bounded by the execution's cap, in order, each write one frame. */
export interface OutputSink {
  write(kind: 'stdout' | 'stderr', text: string): void;
  /** A fraction 0..1 of the work done. */
  progress(fraction: number): void;
}

/** Runs a binary without a shell (see process.ts): what a wrapper tool needs of the machine. */
export interface ProcessRunner {
  run(
    argv: readonly string[],
    options: { signal: AbortSignal; output: OutputSink; collectStdout?: boolean },
  ): Promise<{ exitCode: number | null; signal: string | null; stdout: string }>;
}

/** What the OSV advisory lookup reads: the package firewall's advisory table. */
export type AdvisoryLookup = (
  name: string,
  version: string,
) => Promise<{ id: string; summary: string; severity: string; aliases: string[] }[]>;

export interface ToolContext<P> {
  parameters: P;
  /**
   * The address the target was checked as: a tool with a target connects here and nowhere else,
   * so a host name is resolved once (no DNS rebinding between the check and the use).
   */
  address: string | null;
  signal: AbortSignal;
  output: OutputSink;
  processes: ProcessRunner;
  advisories: AdvisoryLookup;
  /** Resolves a URL's host to the checked address (a tool fetching a second URL checks it too). */
  checkTarget(target: string): Promise<string>;
  /**
   * Whether the run's target may be reached at `address`, as the start's recheck judges it (its host
   * listed by name, or the address in a listed CIDR, and never an address the platform denies): a
   * tool that learns its target's addresses (a DNS answer) shows only these.
   */
  mayReach(address: string): boolean;
}

export interface ToolRun<R> {
  result: R;
  exitCode: number | null;
}

/**
 * A tool of the catalog: its schemas (rendered as JSON Schema), limits, what it needs and its runner.
 * A tool with a `binary` is `unavailable` where that binary is missing; it is never faked.
 */
export interface Tool<P = Record<string, unknown>, R = unknown> {
  id: string;
  name: string;
  category: ToolCategory;
  description: string;
  version: string;
  parameters: z.ZodType<P>;
  result: z.ZodType<R>;
  /** Port and TLS scans: the operator role or above. */
  intrusive: boolean;
  /** The parameter naming what the tool connects to (checked against the tenant's allowlist). */
  target?: (parameters: P) => string | null;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  outputCapBytes: number;
  /** Parameters never written into events (a password to rate, a key): a rerun cannot repeat them. */
  secretParameters?: readonly string[];
  /** The executable a wrapper runs (absolute path or a name on PATH). */
  binary?: string;
  run(context: ToolContext<P>): Promise<ToolRun<R>>;
}

/** Declares a tool with its own parameter and result types, as the catalog holds it. */
export function defineTool<P, R>(tool: Tool<P, R>): Tool {
  // cast: the catalog holds tools of every P and R; each validates its own parameters before run().
  return tool as unknown as Tool;
}

/** A tool's target as an error names it: the caller's text. */
export class TargetRefusedError extends Error {
  readonly code = 'ERR_TARGET_REFUSED' as const;
  constructor(
    readonly target: string,
    reason: string,
  ) {
    super(`target ${target} is not allowed: ${reason}`);
    this.name = 'TargetRefusedError';
  }
}
