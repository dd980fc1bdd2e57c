import type { Kysely } from 'kysely';
import type { CommandContext } from '../../commands/kernel/index.ts';
import { isDomainError } from '../../commands/kernel/index.ts';
import {
  changeExecution,
  changeKnownExecution,
  type ExecutionState,
  findExecution,
  type Outcome,
  readTargets,
  type TargetsState,
} from '../../commands/tools/index.ts';
import type { EventStore } from '../../eventstore/port.ts';
import {
  type AdvisoryLookup,
  type Catalog,
  type OutputSink,
  outputWriter,
  type ProcessRunner,
  type Resolve,
  TargetRefusedError,
  type ToolOutputTables,
  targetChecker,
} from '../../tools/index.ts';
import type { CancelWatch, ProcessLogger } from '../runtime/index.ts';

export interface ExecutionDeps {
  store: EventStore;
  db: Kysely<ToolOutputTables>;
  catalog: Catalog;
  processes: ProcessRunner;
  advisories: AdvisoryLookup;
  resolve?: Resolve;
  /** Addresses no run may reach whatever the allowlist says (`WARDEN_TOOL_DENIED_TARGETS`). */
  deniedTargets?: readonly string[];
  clock: () => Date;
  logger: ProcessLogger;
  /** This worker's id, recorded on the start. */
  worker: string;
  /** A lower output cap than the tools' own (tests, small installations). */
  outputCapBytes?: number;
  /** How often a running execution looks for a cancel request it may have missed. */
  cancelPollMs?: number;
}

/** What a tool job carries: the execution, and the secret parameters its events do not hold. */
export interface ToolJobPayload {
  executionId: string;
  secrets?: Record<string, unknown>;
}

/**
 * Runs one execution, once: records the start (a start of a run already running means the worker
 * that had it died; it is recorded `interrupted`, never run twice), runs the tool with the timeout
 * and cancellation wired to one abort signal, validates the result against the tool's result
 * schema, and records how it ended. Output goes to the output store as it comes.
 *
 * Every round trip before the tool starts delays the run, so they are few: the execution, the
 * tenant's allowlist and `admit` (the tenant's concurrency, which may hand the job back) are read
 * at once; the start is appended on the state just read (re-read only if the stream moved); the
 * `running` frame is queued in the output ahead of the tool's first line, not waited for; the end is
 * appended on the state the start returned.
 */
export async function runExecution(
  deps: ExecutionDeps,
  tenantId: string,
  payload: ToolJobPayload,
  jobSignal: AbortSignal,
  watchCancel: CancelWatch,
  admit: () => Promise<boolean> = async () => true,
): Promise<void> {
  const { store, clock } = deps;
  const at = () => clock().toISOString();
  const [found, allowlist, admitted] = await Promise.all([
    findExecution(store, tenantId, payload.executionId),
    readTargets(store, tenantId),
    admit(),
  ]);
  if (!admitted || !found) return;
  const context: CommandContext = {
    metadata: { tenantId, actorId: `worker:${deps.worker}`, correlationId: payload.executionId },
  };
  const change = (command: Parameters<typeof changeExecution>[3]) =>
    changeExecution(store, tenantId, payload.executionId, command, context);
  const state = found.state;
  if (state.status !== 'queued' && state.status !== 'running') return;
  const entry = deps.catalog.get(state.toolId);
  const capBytes = Math.min(
    entry?.tool.outputCapBytes ?? 1024 * 1024,
    deps.outputCapBytes ?? Number.POSITIVE_INFINITY,
  );
  const output = outputWriter(deps.db, payload.executionId, { capBytes });
  try {
    let started: Awaited<ReturnType<typeof change>>;
    try {
      started = await changeKnownExecution(
        store,
        found,
        { type: 'StartExecution', worker: deps.worker, at: at() },
        context,
      );
      if (started.events.length === 0) return;
    } catch (error) {
      if (!isDomainError(error) || error.detail.rule !== 'already_started') throw error;
      const reason = `its worker (${state.worker ?? 'unknown'}) stopped mid-run; not run again`;
      const interrupted = await change({ type: 'InterruptExecution', reason, at: at() });
      if (interrupted.events.length > 0) await output.status('interrupted', { reason });
      return;
    }
    output.queueStatus('running');
    // Progress goes to the stream as it comes and into the execution's events at most once a second.
    let reported = 0;
    let lastReport = 0;
    const sink: OutputSink = {
      write: (kind, text) => output.sink.write(kind, text),
      progress(fraction) {
        output.sink.progress(fraction);
        const now = Date.now();
        if (fraction <= reported || now - lastReport < 1000) return;
        reported = fraction;
        lastReport = now;
        change({ type: 'ReportProgress', progress: fraction, at: at() }).catch(() => undefined);
      },
    };
    const outcome = await runTool(deps, state, allowlist.state, payload, jobSignal, watchCancel, sink);
    if (outcome.status === 'interrupted') {
      await output.close();
      await change({ type: 'InterruptExecution', reason: 'the worker stopped', at: at() });
      await output.status('interrupted', { reason: 'the worker stopped' });
      return;
    }
    await output.close();
    const final = await changeKnownExecution(
      store,
      started,
      { type: 'FinishExecution', outcome, outputBytes: output.bytes, truncated: output.truncated, at: at() },
      context,
    );
    const s = final.state;
    await output.status(s.status, {
      exit_code: s.exitCode,
      ...(s.error ? { error: s.error } : {}),
      output_bytes: s.outputBytes,
      truncated: s.truncated,
    });
  } finally {
    await output.close().catch(() => undefined);
  }
}

async function runTool(
  deps: ExecutionDeps,
  state: ExecutionState,
  allowlist: TargetsState,
  payload: ToolJobPayload,
  jobSignal: AbortSignal,
  watchCancel: CancelWatch,
  sink: OutputSink,
): Promise<Outcome | { status: 'interrupted' }> {
  const entry = deps.catalog.get(state.toolId);
  if (!entry?.available) {
    return {
      status: 'failed',
      exitCode: null,
      error: entry?.unavailableReason ?? `unknown tool ${state.toolId}`,
    };
  }
  const { tool } = entry;
  const lost = (tool.secretParameters ?? []).filter(
    (name) => name in state.parameters && !(payload.secrets && name in payload.secrets),
  );
  if (lost.length > 0) {
    return {
      status: 'failed',
      exitCode: null,
      error: `secret parameters were not handed over: ${lost.join(', ')}`,
    };
  }
  const parsed = tool.parameters.safeParse({ ...state.parameters, ...(payload.secrets ?? {}) });
  if (!parsed.success) {
    return { status: 'failed', exitCode: null, error: `parameters no longer valid: ${parsed.error.message}` };
  }
  const checker = targetChecker(allowlist.targets, deps.resolve, deps.deniedTargets);
  if (state.target !== null) {
    // The run may have waited queued while the tenant took its target off the allowlist.
    try {
      checker.recheck(state.target, state.address);
    } catch (error) {
      if (!(error instanceof TargetRefusedError)) throw error;
      return { status: 'failed', exitCode: null, error: error.message };
    }
  }
  const abort = new AbortController();
  let why: 'timeout' | 'cancel' | 'worker' | undefined;
  const stop = (reason: typeof why) => {
    why ??= reason;
    abort.abort(new Error(`execution stopped: ${reason}`));
  };
  const timer = setTimeout(() => stop('timeout'), state.timeoutMs);
  const onJobAbort = () => stop('worker');
  jobSignal.addEventListener('abort', onJobAbort, { once: true });
  const unwatch = watchCancel(state.executionId, () => stop('cancel'));
  const poll = setInterval(() => {
    findExecution(deps.store, state.tenantId, state.executionId)
      .then((now) => {
        if (now?.state.cancelRequested) stop('cancel');
      })
      .catch(() => undefined);
  }, deps.cancelPollMs ?? 1000);
  try {
    const run = await tool.run({
      parameters: parsed.data,
      address: state.address,
      signal: abort.signal,
      output: sink,
      processes: deps.processes,
      advisories: deps.advisories,
      checkTarget: (target) => checker.check(target),
      mayReach: (address) => {
        if (state.target === null) return false;
        try {
          checker.recheck(state.target, address);
          return true;
        } catch (error) {
          if (error instanceof TargetRefusedError) return false;
          throw error;
        }
      },
    });
    if (why) return stopped(why);
    const result = tool.result.safeParse(run.result);
    if (!result.success) {
      return {
        status: 'failed',
        exitCode: run.exitCode,
        error: `the result does not match the tool’s result schema: ${result.error.message}`,
      };
    }
    return { status: 'completed', exitCode: run.exitCode, result: result.data };
  } catch (error) {
    if (why) return stopped(why);
    const exitCode = (error as { exitCode?: unknown }).exitCode;
    return {
      status: 'failed',
      exitCode: typeof exitCode === 'number' ? exitCode : null,
      error: error instanceof Error ? error.message : String(error),
    };
  } finally {
    clearTimeout(timer);
    clearInterval(poll);
    jobSignal.removeEventListener('abort', onJobAbort);
    unwatch();
  }
}

const stopped = (why: 'timeout' | 'cancel' | 'worker'): Outcome | { status: 'interrupted' } =>
  why === 'timeout'
    ? { status: 'timed_out' }
    : why === 'cancel'
      ? { status: 'cancelled' }
      : { status: 'interrupted' };
