import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import {
  issueDecider,
  issueIdFor,
  issueStreamId,
  type ProjectContext,
} from '../../src/commands/tracker/index.ts';
import type { Database } from '../../src/db/database.ts';
import type { NewEvent } from '../../src/eventstore/port.ts';
import { transactionalStore } from '../../src/eventstore/postgres/transactional-store.ts';
import type { IssueListTables } from '../../src/projections/tracker/issue-list.ts';

/**
 * The tracker benchmarks' issues (`bench:tracker`, `bench:scale`): text of invented words, so a query
 * word matches a known share of the issues, with every choice drawn from a seeded source, so each run
 * loads the same issues; each issue decided by the real issue decider.
 */

const syllables = [
  'ka',
  'lo',
  'mi',
  'ne',
  'ru',
  'sa',
  'to',
  'vi',
  'ze',
  'po',
  'qua',
  'dri',
  'fen',
  'gor',
  'hul',
];

/** 3,000 invented words of three syllables each. */
export const words = Array.from({ length: 3000 }, (_, i) => {
  let n = i + 7;
  let w = '';
  for (let k = 0; k < 3; k++) {
    w += syllables[n % syllables.length];
    n = Math.floor(n / syllables.length) + k * 5;
  }
  return w;
});

/** The i-th query of the search samples: two word prefixes (five and four letters). */
export const searchTerm = (i: number) =>
  `${words[(i * 37) % words.length]!.slice(0, 5)} ${words[(i * 11) % words.length]!.slice(0, 4)}`;

/** An issue to make: where, who, its number and time; `dueDate`, when given, is set on 40% of them. */
export interface IssueSpec {
  tenantId: string;
  /** The reporter (an admin of the tenant). */
  actorId: string;
  /** Assigned to half of the issues. */
  assigneeId: string;
  project: { id: string; key: string };
  context: ProjectContext;
  number: number;
  at: string;
  dueDate?: string;
}

/** Issues from a seeded source: the same sequence of specs makes the same issues every run. */
export function issueMaker(seed = 42) {
  let state = seed;
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const sentence = (n: number) => Array.from({ length: n }, () => pick(words)).join(' ');
  /** One new issue's append (expected `no_stream`): the events CreateIssue decides. */
  return async (spec: IssueSpec): Promise<{ streamId: string; events: NewEvent[] }> => {
    const issueId = await issueIdFor(spec.project.id, spec.number);
    const events = issueDecider.decide(
      {
        type: 'CreateIssue',
        issueId,
        tenantId: spec.tenantId,
        number: spec.number,
        key: `${spec.project.key}-${spec.number}`,
        assigneeId: random() < 0.5 ? spec.assigneeId : null,
        fields: {
          title: sentence(5),
          description: sentence(30),
          type: pick(['bug', 'task', 'story'] as const),
          priority: pick(['lowest', 'low', 'medium', 'high', 'highest'] as const),
          labels: random() < 0.3 ? [pick(['api', 'ui', 'db', 'ops'])] : [],
          dueDate: spec.dueDate !== undefined && random() < 0.4 ? spec.dueDate : null,
        },
        actor: { userId: spec.actorId, tenantAdmin: true },
        project: spec.context,
        at: spec.at,
      },
      issueDecider.initialState(),
    );
    return {
      streamId: issueStreamId(issueId),
      events: events.map((e) => ({
        id: randomUUID(),
        type: e.type,
        data: e.data,
        metadata: { tenantId: spec.tenantId, actorId: spec.actorId },
      })),
    };
  };
}

/** Appends new streams (expected `no_stream`) in one transaction, as a batch import would. */
export async function appendNewStreams(
  database: Database,
  appends: readonly { streamId: string; events: NewEvent[] }[],
): Promise<void> {
  await database.db.transaction().execute(async (trx) => {
    const store = transactionalStore(database, trx, false);
    for (const a of appends) await store.append(a.streamId, a.events, { expected: 'no_stream' });
  });
}

/** How many issues the issue list holds now (the benchmarks wait for their catch-ups with it). */
export async function listedIssues(database: Database): Promise<number> {
  const db = database.db as unknown as Kysely<IssueListTables>;
  const row = await db
    .selectFrom('issue_list')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
