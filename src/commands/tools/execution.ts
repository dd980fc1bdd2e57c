import type { Decider } from '../kernel/index.ts';
import { DomainError, notFound, validated } from '../kernel/index.ts';
import { type ExecutionEvent, type ExecutionStatus, isFinal, toolsEventSchemas } from './events.ts';

export interface ExecutionState {
  exists: boolean;
  executionId: string;
  tenantId: string;
  toolId: string;
  toolVersion: string;
  actorId: string;
  target: string | null;
  address: string | null;
  parameters: Record<string, unknown>;
  timeoutMs: number;
  rerunOf: string | null;
  status: ExecutionStatus;
  progress: number;
  cancelRequested: boolean;
  worker: string | null;
  exitCode: number | null;
  result: unknown;
  error: string | null;
  outputBytes: number;
  truncated: boolean;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** How a run ended, as the worker saw it. */
export type Outcome =
  | { status: 'completed'; exitCode: number | null; result: unknown }
  | { status: 'failed'; exitCode: number | null; error: string }
  | { status: 'timed_out' }
  | { status: 'cancelled' };

export type ExecutionCommand =
  | {
      type: 'RequestExecution';
      executionId: string;
      tenantId: string;
      toolId: string;
      toolVersion: string;
      actorId: string;
      target: string | null;
      address: string | null;
      parameters: Record<string, unknown>;
      timeoutMs: number;
      rerunOf: string | null;
      at: string;
    }
  | { type: 'StartExecution'; worker: string; at: string }
  | { type: 'ReportProgress'; progress: number; at: string }
  | { type: 'CancelExecution'; by: string; at: string }
  | { type: 'FinishExecution'; outcome: Outcome; outputBytes: number; truncated: boolean; at: string }
  | { type: 'InterruptExecution'; reason: string; at: string };

const initialState = (): ExecutionState => ({
  exists: false,
  executionId: '',
  tenantId: '',
  toolId: '',
  toolVersion: '',
  actorId: '',
  target: null,
  address: null,
  parameters: {},
  timeoutMs: 0,
  rerunOf: null,
  status: 'queued',
  progress: 0,
  cancelRequested: false,
  worker: null,
  exitCode: null,
  result: null,
  error: null,
  outputBytes: 0,
  truncated: false,
  queuedAt: '',
  startedAt: null,
  finishedAt: null,
});

/** Rule `execution_finished`: a finished execution changes no more (a cancel of one is a 409). */
const finished = (status: ExecutionStatus) =>
  new DomainError('RULE_VIOLATED', `the execution has finished (${status})`, { rule: 'execution_finished' });

/**
 * The status machine: `queued → running → completed | failed | cancelled | timed_out | interrupted`,
 * and `queued → cancelled` (a cancelled queued run never starts). Commands a worker repeats after a
 * crash (start, finish, interrupt) decide nothing when they no longer apply, so a retried job
 * appends nothing twice; a start of a run that is already running means its first worker died, and
 * is refused (rule `already_started`) so nothing runs twice.
 */
function decideUnchecked(command: ExecutionCommand, state: ExecutionState): ExecutionEvent[] {
  if (command.type === 'RequestExecution') {
    if (state.exists) return [];
    const { type: _, ...data } = command;
    return [{ type: 'ExecutionQueued', data }];
  }
  if (!state.exists) throw notFound('execution');
  const ids = { executionId: state.executionId, tenantId: state.tenantId };
  switch (command.type) {
    case 'StartExecution':
      if (state.status === 'running') {
        throw new DomainError('RULE_VIOLATED', 'the execution was started already', {
          rule: 'already_started',
        });
      }
      if (state.status !== 'queued') return [];
      return [{ type: 'ExecutionStarted', data: { ...ids, worker: command.worker, at: command.at } }];
    case 'ReportProgress':
      if (state.status !== 'running' || command.progress <= state.progress) return [];
      return [
        {
          type: 'ExecutionProgressed',
          data: { ...ids, progress: Math.min(1, command.progress), at: command.at },
        },
      ];
    case 'CancelExecution':
      if (isFinal(state.status)) throw finished(state.status);
      if (state.status === 'queued') {
        return [
          {
            type: 'ExecutionCancelled',
            data: { ...ids, started: false, outputBytes: 0, at: command.at, by: command.by },
          },
        ];
      }
      if (state.cancelRequested) return [];
      return [{ type: 'ExecutionCancelRequested', data: { ...ids, at: command.at, by: command.by } }];
    case 'FinishExecution': {
      if (state.status !== 'running') return [];
      const { outcome, outputBytes, truncated, at } = command;
      switch (outcome.status) {
        case 'completed':
          return [
            {
              type: 'ExecutionCompleted',
              data: {
                ...ids,
                exitCode: outcome.exitCode,
                result: outcome.result,
                outputBytes,
                truncated,
                at,
              },
            },
          ];
        case 'failed':
          return [
            {
              type: 'ExecutionFailed',
              data: {
                ...ids,
                exitCode: outcome.exitCode,
                error: outcome.error.slice(0, 2000),
                outputBytes,
                truncated,
                at,
              },
            },
          ];
        case 'timed_out':
          return [
            {
              type: 'ExecutionTimedOut',
              data: { ...ids, timeoutMs: state.timeoutMs, outputBytes, truncated, at },
            },
          ];
        case 'cancelled':
          return [
            {
              type: 'ExecutionCancelled',
              data: {
                ...ids,
                started: true,
                outputBytes,
                at,
                by: state.cancelRequested ? 'cancel' : 'worker',
              },
            },
          ];
      }
      return [];
    }
    case 'InterruptExecution':
      if (state.status !== 'running') return [];
      return [
        {
          type: 'ExecutionInterrupted',
          data: { ...ids, reason: command.reason.slice(0, 500), at: command.at },
        },
      ];
  }
}

function evolve(state: ExecutionState, event: ExecutionEvent): ExecutionState {
  switch (event.type) {
    case 'ExecutionQueued': {
      const d = event.data;
      return {
        ...initialState(),
        exists: true,
        executionId: d.executionId,
        tenantId: d.tenantId,
        toolId: d.toolId,
        toolVersion: d.toolVersion,
        actorId: d.actorId,
        target: d.target,
        address: d.address,
        parameters: d.parameters,
        timeoutMs: d.timeoutMs,
        rerunOf: d.rerunOf,
        queuedAt: d.at,
      };
    }
    case 'ExecutionStarted':
      return { ...state, status: 'running', worker: event.data.worker, startedAt: event.data.at };
    case 'ExecutionProgressed':
      return { ...state, progress: event.data.progress };
    case 'ExecutionCancelRequested':
      return { ...state, cancelRequested: true };
    case 'ExecutionCompleted':
      return {
        ...state,
        status: 'completed',
        progress: 1,
        exitCode: event.data.exitCode,
        result: event.data.result,
        outputBytes: event.data.outputBytes,
        truncated: event.data.truncated,
        finishedAt: event.data.at,
      };
    case 'ExecutionFailed':
      return {
        ...state,
        status: 'failed',
        exitCode: event.data.exitCode,
        error: event.data.error,
        outputBytes: event.data.outputBytes,
        truncated: event.data.truncated,
        finishedAt: event.data.at,
      };
    case 'ExecutionCancelled':
      return {
        ...state,
        status: 'cancelled',
        outputBytes: event.data.outputBytes,
        finishedAt: event.data.at,
      };
    case 'ExecutionTimedOut':
      return {
        ...state,
        status: 'timed_out',
        outputBytes: event.data.outputBytes,
        truncated: event.data.truncated,
        finishedAt: event.data.at,
      };
    case 'ExecutionInterrupted':
      return { ...state, status: 'interrupted', error: event.data.reason, finishedAt: event.data.at };
    default:
      return state;
  }
}

/** One run of a tool: its request, lifecycle and result. Output lives in the output store, not here. */
export const executionDecider: Decider<ExecutionCommand, ExecutionEvent, ExecutionState> = validated(
  { initialState, decide: decideUnchecked, evolve },
  toolsEventSchemas,
);
