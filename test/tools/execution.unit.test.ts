import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/commands/kernel/index.ts';
import {
  type ExecutionCommand,
  type ExecutionEvent,
  type ExecutionState,
  executionDecider,
  isFinal,
  TargetEntry,
  targetsDecider,
} from '../../src/commands/tools/index.ts';
import { specFor } from '../support/decider-spec.ts';

const spec = specFor(executionDecider);
const executionId = '0b7e3c39-4d39-4a48-9a43-5a1c1d3c9a11';
const tenantId = '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
const at = '2026-12-02T10:00:00.000Z';
const ids = { executionId, tenantId };
const request: Extract<ExecutionCommand, { type: 'RequestExecution' }> = {
  type: 'RequestExecution',
  ...ids,
  toolId: 'port-scan',
  toolVersion: '1',
  actorId: 'user-1',
  target: 'localhost',
  address: '127.0.0.1',
  parameters: { host: 'localhost', ports: '22' },
  timeoutMs: 10_000,
  rerunOf: null,
  at,
};
const { type: _, ...queuedData } = request;
const queued: ExecutionEvent = { type: 'ExecutionQueued', data: queuedData };
const started: ExecutionEvent = { type: 'ExecutionStarted', data: { ...ids, worker: 'w1', at } };

describe('execution decider', () => {
  it('queues a requested execution once; a repeated request appends nothing', () => {
    spec.given([]).when(request).thenEvents([queued]);
    spec.given([queued]).when(request).thenEvents([]);
  });

  it('starts a queued run; a second start of a running one is refused (nothing runs twice)', () => {
    spec.given([queued]).when({ type: 'StartExecution', worker: 'w1', at }).thenEvents([started]);
    spec
      .given([queued, started])
      .when({ type: 'StartExecution', worker: 'w2', at })
      .thenFails('RULE_VIOLATED', 'already_started');
  });

  it('cancels a queued run so that it never starts', () => {
    const cancelled: ExecutionEvent = {
      type: 'ExecutionCancelled',
      data: { ...ids, started: false, outputBytes: 0, at, by: 'user-1' },
    };
    spec.given([queued]).when({ type: 'CancelExecution', by: 'user-1', at }).thenEvents([cancelled]);
    spec.given([queued, cancelled]).when({ type: 'StartExecution', worker: 'w1', at }).thenEvents([]);
  });

  it('asks a running run to stop, then records it cancelled when the worker reports so', () => {
    const asked: ExecutionEvent = { type: 'ExecutionCancelRequested', data: { ...ids, at, by: 'user-1' } };
    spec.given([queued, started]).when({ type: 'CancelExecution', by: 'user-1', at }).thenEvents([asked]);
    spec
      .given([queued, started, asked])
      .when({
        type: 'FinishExecution',
        outcome: { status: 'cancelled' },
        outputBytes: 12,
        truncated: false,
        at,
      })
      .thenEvents([
        { type: 'ExecutionCancelled', data: { ...ids, started: true, outputBytes: 12, at, by: 'cancel' } },
      ]);
  });

  it('refuses to cancel a finished run (409 execution_finished)', () => {
    const done: ExecutionEvent = {
      type: 'ExecutionCompleted',
      data: { ...ids, exitCode: 0, result: { open: [] }, outputBytes: 0, truncated: false, at },
    };
    spec
      .given([queued, started, done])
      .when({ type: 'CancelExecution', by: 'user-1', at })
      .thenFails('RULE_VIOLATED', 'execution_finished');
  });

  it('records a timeout with the run’s limit and an interruption only of a running run', () => {
    spec
      .given([queued, started])
      .when({
        type: 'FinishExecution',
        outcome: { status: 'timed_out' },
        outputBytes: 3,
        truncated: true,
        at,
      })
      .thenEvents([
        {
          type: 'ExecutionTimedOut',
          data: { ...ids, timeoutMs: 10_000, outputBytes: 3, truncated: true, at },
        },
      ]);
    spec.given([queued]).when({ type: 'InterruptExecution', reason: 'worker died', at }).thenEvents([]);
    spec
      .given([queued, started])
      .when({ type: 'InterruptExecution', reason: 'worker died', at })
      .thenEvents([{ type: 'ExecutionInterrupted', data: { ...ids, reason: 'worker died', at } }]);
  });

  it('changes nothing of an execution that does not exist but refuses it as not found', () => {
    spec.given([]).when({ type: 'CancelExecution', by: 'u', at }).thenFails('NOT_FOUND');
  });
});

const command = fc.oneof(
  fc.constant<ExecutionCommand>({ type: 'StartExecution', worker: 'w', at }),
  fc.double({ min: 0, max: 1, noNaN: true }).map<ExecutionCommand>((progress) => ({
    type: 'ReportProgress',
    progress,
    at,
  })),
  fc.constant<ExecutionCommand>({ type: 'CancelExecution', by: 'u', at }),
  fc.constant<ExecutionCommand>({ type: 'InterruptExecution', reason: 'lease lapsed', at }),
  fc.constantFrom<ExecutionCommand & { type: 'FinishExecution' }>(
    ...(['completed', 'failed', 'timed_out', 'cancelled'] as const).map((status) => ({
      type: 'FinishExecution' as const,
      outcome:
        status === 'completed'
          ? { status, exitCode: 0, result: {} }
          : status === 'failed'
            ? { status, exitCode: 1, error: 'boom' }
            : { status },
      outputBytes: 1,
      truncated: false,
      at,
    })),
  ),
);

const allowed: Record<string, readonly string[]> = {
  queued: ['queued', 'running', 'cancelled'],
  running: ['running', 'completed', 'failed', 'cancelled', 'timed_out', 'interrupted'],
};

describe('execution status machine (property)', () => {
  it('only ever moves queued → running → a final status (or queued → cancelled), and a final status never changes', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 25 }), (commands) => {
        let state: ExecutionState = executionDecider.evolve(executionDecider.initialState(), queued);
        let starts = 0;
        for (const c of commands) {
          let events: ExecutionEvent[] = [];
          try {
            events = executionDecider.decide(c, state);
          } catch (error) {
            expect(error).toBeInstanceOf(DomainError);
            continue;
          }
          const before = state.status;
          for (const e of events) {
            if (e.type === 'ExecutionStarted') starts++;
            state = executionDecider.evolve(state, e);
          }
          if (isFinal(before)) expect(state.status).toBe(before);
          else expect(allowed[before]).toContain(state.status);
        }
        expect(starts).toBeLessThanOrEqual(1);
        if (state.status === 'queued') expect(state.startedAt).toBeNull();
      }),
      { numRuns: 500 },
    );
  });
});

describe('targets decider', () => {
  const targets = specFor(targetsDecider);
  it('replaces the allowlist, and appends nothing when it is the same set', () => {
    const changed = {
      type: 'ToolTargetsChanged' as const,
      data: { tenantId, targets: ['127.0.0.1/32', 'scanme.example.com'], previous: [], at, by: 'u' },
    };
    targets
      .given([])
      .when({ type: 'SetTargets', tenantId, targets: ['127.0.0.1/32', 'scanme.example.com'], by: 'u', at })
      .thenEvents([changed]);
    targets
      .given([changed])
      .when({ type: 'SetTargets', tenantId, targets: ['scanme.example.com', '127.0.0.1/32'], by: 'u', at })
      .thenEvents([]);
  });

  it('takes CIDRs, addresses, host names and wildcards, and nothing else', () => {
    for (const ok of ['10.0.0.0/8', '::1/128', '127.0.0.1', 'example.com', '*.example.com', 'LOCALHOST']) {
      expect(TargetEntry.safeParse(ok).success, ok).toBe(true);
    }
    for (const bad of ['10.0.0.0/33', '300.1.1.1', 'exa mple.com', '', 'http://x', '1.2.3.4/8/1']) {
      expect(TargetEntry.safeParse(bad).success, bad).toBe(false);
    }
  });
});

describe('tools in the audit trail', () => {
  it('records every tools event with a summary naming the tool, actor and target of a queued run', async () => {
    const { auditedEventTypes, summaries, summarize } = await import('../../src/audit/summaries.ts');
    const { toolsEventTypes } = await import('../../src/commands/tools/index.ts');
    for (const type of toolsEventTypes) {
      expect(summaries[type], type).toBeTypeOf('function');
      expect(auditedEventTypes).toContain(type);
    }
    const text = summarize({
      id: executionId,
      type: 'ExecutionQueued',
      data: queuedData,
      metadata: {},
      streamId: `tools.Execution-${executionId}`,
      revision: 0,
      position: 1n,
      recordedAt: new Date(at),
    } as never);
    expect(text).toBe('Tool port-scan queued by user-1 against localhost (127.0.0.1)');
  });
});
