export {
  type ExecutionEvent,
  ExecutionStatus,
  executionEventTypes,
  executionStatuses,
  executionStreamId,
  finalStatuses,
  isAddressLiteral,
  isFinal,
  NewTargetEntry,
  NewTargetList,
  TargetEntry,
  TargetList,
  type TargetsEvent,
  ToolId,
  type ToolsEvent,
  type ToolsEventType,
  targetsStreamId,
  toolsEventSchemas,
  toolsEventTypes,
} from './events.ts';
export {
  type ExecutionCommand,
  type ExecutionState,
  executionDecider,
  type Outcome,
} from './execution.ts';
export {
  changeExecution,
  changeKnownExecution,
  findExecution,
  readTargets,
  requestExecution,
  setTargets,
} from './handle.ts';
export { type TargetsCommand, type TargetsState, targetsDecider } from './targets.ts';
