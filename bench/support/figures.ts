import os from 'node:os';
import type { Throughput } from './measure.ts';
import type { OrderingResult } from './ordering.ts';
import { type Row, round, verdict } from './report.ts';

/** The shape of the run, printed with the figures. */
export interface Settings {
  writers: number;
  batch: number;
  batchWriters: number;
}

export const TARGETS = {
  append_vs_raw: 0.6,
  batch_vs_raw: 0.6,
  append_vs_emmett: 1.5,
  readall_vs_raw: 0.5,
  rebuild_events_per_s: 50_000,
  live_projection_events_per_s: 25_000,
};

export interface Figures {
  rawSingle: Throughput;
  wardenSingle: Throughput;
  emmettSingle: Throughput;
  rawBatch: Throughput;
  wardenBatch: Throughput;
  emmettBatch: Throughput;
  rawRead: Throughput;
  wardenRead: Throughput;
  wardenSubscribe: Throughput;
  emmettRead: Throughput;
  /** The live runner catching up a backlog into a row-per-entity read model (the issue list). */
  liveProjection: number | null;
  rebuild: number | null;
  rebuildPerEvent: number | null;
  appendVsRaw: number;
  batchVsRaw: number;
  appendVsEmmett: number;
  batchVsEmmett: number;
  readallVsRaw: number;
  wo: OrderingResult;
  eo: OrderingResult;
}

/** Everything else the JSON line carries beyond the figures. */
export interface RunFacts {
  wardenWritten: Throughput;
  emmettWritten: Throughput;
  orderingTableCount: number;
  rebuildNote: string;
  defaultUrl: boolean;
  version: string;
  /** Where the projections ran, e.g. `PostgreSQL 16.4`. */
  backend: string;
}

export function tableRows(
  f: Figures,
  { writers: WRITERS, batch: BATCH, batchWriters: BATCH_WRITERS }: Settings,
): Row[] {
  const atLeast = (value: number | null, target: number) => (value === null ? null : value >= target);
  const zero = (value: number) => ({ target: '0', met: value === 0 });
  return [
    { figure: `raw single-row INSERT, ${WRITERS} clients`, value: f.rawSingle.perSecond, unit: 'rows/s' },
    {
      figure: `Warden append 1 event, ${WRITERS} writers`,
      value: f.wardenSingle.perSecond,
      unit: 'events/s',
      ratio: { name: 'append_vs_raw', value: f.appendVsRaw },
      target: `≥ ${TARGETS.append_vs_raw}`,
      met: atLeast(f.appendVsRaw, TARGETS.append_vs_raw),
    },
    {
      figure: `emmett append 1 event, ${WRITERS} writers`,
      value: f.emmettSingle.perSecond,
      unit: 'events/s',
      ratio: { name: 'append_vs_emmett', value: f.appendVsEmmett },
      target: `≥ ${TARGETS.append_vs_emmett}`,
      met: atLeast(f.appendVsEmmett, TARGETS.append_vs_emmett),
    },
    {
      figure: `raw ${BATCH}-row INSERT, ${BATCH_WRITERS} clients`,
      value: f.rawBatch.perSecond,
      unit: 'rows/s',
    },
    {
      figure: `Warden append ${BATCH} events, ${BATCH_WRITERS} writers`,
      value: f.wardenBatch.perSecond,
      unit: 'events/s',
      ratio: { name: 'batch_vs_raw', value: f.batchVsRaw },
      target: `≥ ${TARGETS.batch_vs_raw}`,
      met: atLeast(f.batchVsRaw, TARGETS.batch_vs_raw),
    },
    {
      figure: `emmett append ${BATCH} events, ${BATCH_WRITERS} writers`,
      value: f.emmettBatch.perSecond,
      unit: 'events/s',
      ratio: { name: 'batch_vs_emmett', value: f.batchVsEmmett },
    },
    { figure: 'raw keyset SELECT by position, pages of 1000', value: f.rawRead.perSecond, unit: 'events/s' },
    {
      figure: 'Warden readAll, pages of 1000',
      value: f.wardenRead.perSecond,
      unit: 'events/s',
      ratio: { name: 'readall_vs_raw', value: f.readallVsRaw },
      target: `≥ ${TARGETS.readall_vs_raw}`,
      met: atLeast(f.readallVsRaw, TARGETS.readall_vs_raw),
    },
    {
      figure: 'Warden subscribe catch-up, batches of 1000',
      value: f.wardenSubscribe.perSecond,
      unit: 'events/s',
      ratio: { name: 'vs raw', value: f.wardenSubscribe.perSecond / f.rawRead.perSecond },
    },
    {
      figure: 'emmett consumer reading $all, batches of 1000',
      value: f.emmettRead.perSecond,
      unit: 'events/s',
      ratio: { name: 'readall_vs_emmett', value: f.wardenRead.perSecond / f.emmettRead.perSecond },
    },
    {
      figure: 'live projection catch-up, issue list (row per issue)',
      value: f.liveProjection,
      unit: 'events/s',
      target: `≥ ${TARGETS.live_projection_events_per_s.toLocaleString('en-US')}`,
      met: atLeast(f.liveProjection, TARGETS.live_projection_events_per_s),
    },
    {
      figure: 'projection rebuild, issue list (row per issue)',
      value: f.rebuild,
      unit: 'events/s',
      target: `≥ ${TARGETS.rebuild_events_per_s.toLocaleString('en-US')}`,
      met: atLeast(f.rebuild, TARGETS.rebuild_events_per_s),
    },
    {
      figure: 'projection rebuild, issue list, one apply per event',
      value: f.rebuildPerEvent,
      unit: 'events/s',
    },
    {
      figure: `Warden reader under ${WRITERS} writers: lost (of ${f.wo.final})`,
      value: f.wo.lost,
      unit: 'events',
      ...zero(f.wo.lost),
    },
    {
      figure: 'Warden reader under writers: duplicated',
      value: f.wo.duplicated,
      unit: 'events',
      ...zero(f.wo.duplicated),
    },
    {
      figure: 'Warden reader under writers: out of order',
      value: f.wo.outOfOrder,
      unit: 'events',
      ...zero(f.wo.outOfOrder),
    },
    {
      figure: `emmett reader under ${WRITERS} writers: lost (of ${f.eo.final})`,
      value: f.eo.lost,
      unit: 'events',
    },
    { figure: 'emmett reader under writers: duplicated', value: f.eo.duplicated, unit: 'events' },
    { figure: 'emmett reader under writers: out of order', value: f.eo.outOfOrder, unit: 'events' },
  ];
}

/** The last line: every figure, the keys issue 3 asks for first. */
export function summaryJson(f: Figures, settings: Settings, facts: RunFacts): Record<string, unknown> {
  const { wardenWritten, emmettWritten, orderingTableCount, rebuildNote, defaultUrl, version, backend } =
    facts;
  const cpu = (t: Throughput) => (t.cpu ? round(t.cpu.clientMicros + (t.cpu.serverMicros ?? 0)) : null);
  return {
    verdicts: [
      verdict('append_vs_raw', round(f.appendVsRaw, 3), '≥', TARGETS.append_vs_raw),
      verdict('batch_vs_raw', round(f.batchVsRaw, 3), '≥', TARGETS.batch_vs_raw),
      verdict('append_vs_emmett', round(f.appendVsEmmett, 3), '≥', TARGETS.append_vs_emmett),
      verdict('readall_vs_raw', round(f.readallVsRaw, 3), '≥', TARGETS.readall_vs_raw),
      verdict(
        'live_projection_events_per_s',
        f.liveProjection === null ? null : round(f.liveProjection),
        '≥',
        TARGETS.live_projection_events_per_s,
      ),
      verdict(
        'rebuild_events_per_s (issue list)',
        f.rebuild === null ? null : round(f.rebuild),
        '≥',
        TARGETS.rebuild_events_per_s,
      ),
      verdict(
        'readAll under 8 writers: lost + duplicated + out of order',
        f.wo.lost + f.wo.duplicated + f.wo.outOfOrder,
        '≤',
        0,
      ),
    ],
    append_vs_raw: round(f.appendVsRaw, 3),
    batch_vs_raw: round(f.batchVsRaw, 3),
    append_vs_emmett: round(f.appendVsEmmett, 3),
    readall_vs_raw: round(f.readallVsRaw, 3),
    live_projection_events_per_s: f.liveProjection === null ? null : round(f.liveProjection),
    rebuild_events_per_s: f.rebuild === null ? null : round(f.rebuild),
    readall_lost: f.wo.lost,
    readall_duplicated: f.wo.duplicated,
    emmett_readall_lost: f.eo.lost,
    emmett_readall_duplicated: f.eo.duplicated,
    raw_insert_rows_per_s: round(f.rawSingle.perSecond),
    warden_append_events_per_s: round(f.wardenSingle.perSecond),
    emmett_append_events_per_s: round(f.emmettSingle.perSecond),
    raw_batch_rows_per_s: round(f.rawBatch.perSecond),
    warden_batch_events_per_s: round(f.wardenBatch.perSecond),
    emmett_batch_events_per_s: round(f.emmettBatch.perSecond),
    batch_vs_emmett: round(f.batchVsEmmett, 3),
    raw_readall_events_per_s: round(f.rawRead.perSecond),
    warden_readall_events_per_s: round(f.wardenRead.perSecond),
    warden_subscribe_events_per_s: round(f.wardenSubscribe.perSecond),
    emmett_readall_events_per_s: round(f.emmettRead.perSecond),
    readall_vs_emmett: round(f.wardenRead.perSecond / f.emmettRead.perSecond, 3),
    rebuild_per_event_apply_events_per_s: f.rebuildPerEvent === null ? null : round(f.rebuildPerEvent),
    cpu_us_per_event: {
      raw_insert: cpu(f.rawSingle),
      warden_append: cpu(f.wardenSingle),
      emmett_append: cpu(f.emmettSingle),
      raw_batch: cpu(f.rawBatch),
      warden_batch: cpu(f.wardenBatch),
      emmett_batch: cpu(f.emmettBatch),
      raw_readall: cpu(f.rawRead),
      warden_readall: cpu(f.wardenRead),
      emmett_readall: cpu(f.emmettRead),
    },
    readall_out_of_order: f.wo.outOfOrder,
    readall_phantom: f.wo.phantom,
    readall_events_checked: f.wo.final,
    readall_caught_up: f.wo.caughtUp,
    readall_final_matches_table: f.wo.final === orderingTableCount,
    emmett_readall_out_of_order: f.eo.outOfOrder,
    emmett_readall_phantom: f.eo.phantom,
    emmett_readall_events_checked: f.eo.final,
    emmett_readall_caught_up: f.eo.caughtUp,
    warden_append_with_reader_events_per_s: round(wardenWritten.perSecond),
    emmett_append_with_reader_events_per_s: round(emmettWritten.perSecond),
    rebuild_note: rebuildNote,
    writers: settings.writers,
    batch_size: settings.batch,
    batch_writers: settings.batchWriters,
    database_url_default: defaultUrl,
    postgres_version: version,
    projection_backend: backend,
    load_average_1m: round(os.loadavg()[0] ?? 0, 2),
  };
}
