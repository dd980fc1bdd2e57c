import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** One labelled value a collector reports at scrape time. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/**
 * The process's metrics, in a registry of its own (never prom-client's global one): HTTP requests,
 * event appends, and gauges whose values are read at scrape time (projection lag, job queues,
 * worker heartbeats). Create one per process and hand it to what records into it.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  readonly eventsAppended: Counter<'context'>;
  readonly appendDuration: Histogram<never>;
  /** Expired records the cleanup sweeps removed, by kind (OAuth codes, pending requests, sessions, tokens…). */
  readonly cleanupRemoved: Counter<'kind'>;
  /** Tables the PGlite upkeep vacuumed or analyzed, by action (vacuum, vacuum_analyze, analyze, freeze). */
  readonly tableUpkeep: Counter<'action'>;
  /** Refused sign-ins, by reason (invalid_credentials, not_active, tenant_suspended, password_change_required, email_unverified, throttled). */
  readonly loginFailures: Counter<'reason'>;
  /** OSV feed syncs, by outcome (imported, unchanged, not_modified, failed). */
  readonly osvSyncs: Counter<'result'>;
  /**
   * A gauge whose samples `collect` reads when Prometheus scrapes (a failing collector leaves its
   * gauge empty for that scrape rather than failing the scrape).
   */
  gauge(
    name: string,
    help: string,
    labels: readonly string[],
    collect: () => Promise<readonly Sample[]>,
  ): void;
  /**
   * A counter whose values `collect` reads when Prometheus scrapes: for totals kept in the database
   * (so every process reports the same, ever-growing value); a failing collector leaves it empty.
   */
  counter(
    name: string,
    help: string,
    labels: readonly string[],
    collect: () => Promise<readonly Sample[]>,
  ): void;
  /** The exposition text for `/metrics`. */
  render(): Promise<{ contentType: string; body: string }>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  // The Node process: CPU, resident memory, heap, event-loop lag, GC, handles, open file descriptors.
  collectDefaultMetrics({ register: registry });
  const httpRequests = new Counter({
    name: 'warden_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'warden_http_request_duration_seconds',
    help: 'Time to answer an HTTP request (until the response headers), by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const eventsAppended = new Counter({
    name: 'warden_events_appended_total',
    help: 'Events appended to the event store, by context (the stream id prefix)',
    labelNames: ['context'] as const,
    registers: [registry],
  });
  const appendDuration = new Histogram({
    name: 'warden_append_duration_seconds',
    help: 'Time of one append to the event store (one or more events, one transaction)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const cleanupRemoved = new Counter({
    name: 'warden_cleanup_removed_total',
    help: 'Expired records removed by the cleanup sweeps, by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const tableUpkeep = new Counter({
    name: 'warden_table_upkeep_total',
    help: 'Tables vacuumed or analyzed by the upkeep of embedded PGlite (which runs no autovacuum), by action',
    labelNames: ['action'] as const,
    registers: [registry],
  });
  const loginFailures = new Counter({
    name: 'warden_login_failures_total',
    help: 'Refused sign-ins (every path: login, the OAuth sign-in page, the password grant), by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const osvSyncs = new Counter({
    name: 'warden_osv_syncs_total',
    help: 'OSV feed syncs, by outcome: imported, unchanged (archive read, nothing new), not_modified (304), failed',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  return {
    registry,
    cleanupRemoved,
    tableUpkeep,
    loginFailures,
    osvSyncs,
    httpRequests,
    httpDuration,
    eventsAppended,
    appendDuration,
    gauge(name, help, labels, collect) {
      new Gauge({
        name,
        help,
        labelNames: labels,
        registers: [registry],
        async collect() {
          this.reset();
          try {
            for (const sample of await collect()) this.set(sample.labels, sample.value);
          } catch {
            // Nothing for this scrape: the other metrics still answer.
          }
        },
      });
    },
    counter(name, help, labels, collect) {
      new Counter({
        name,
        help,
        labelNames: labels,
        registers: [registry],
        async collect() {
          this.reset();
          try {
            for (const sample of await collect()) this.inc(sample.labels, sample.value);
          } catch {
            // Nothing for this scrape: the other metrics still answer.
          }
        },
      });
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
