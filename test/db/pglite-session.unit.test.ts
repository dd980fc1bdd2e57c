import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FOREGROUND_STREAK, type Lane, PGliteSession } from '../../src/db/pglite-dialect.ts';

/*
 * PGlite's one session, handed out in lanes (src/db/pglite-dialect.ts): given a holder and waiters,
 * when it lets go, then who holds it next. The session here holds no PGlite (nothing runs a statement).
 */

const session = () => new PGliteSession(undefined as never);
/** Lets resolved grants and the hand-on a turn later run. */
const turn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** A waiter that records, by name, the order in which it was given the session. */
function waiter(s: PGliteSession, lane: Lane, name: string, order: string[]) {
  return s.acquire(lane).then(() => {
    order.push(name);
  });
}

describe('PGliteSession', () => {
  it('given background work queued first, a foreground waiter goes next when the holder lets go', async () => {
    const s = session();
    const order: string[] = [];
    await s.acquire('background');
    const waiting = [
      waiter(s, 'background', 'page 1', order),
      waiter(s, 'background', 'page 2', order),
      waiter(s, 'foreground', 'request', order),
    ];
    s.release('background');
    await turn();
    expect(order).toEqual(['request']);
    s.release('foreground');
    await turn();
    s.release('background');
    await turn();
    await Promise.all(waiting);
    expect(order).toEqual(['request', 'page 1', 'page 2']);
  });

  it('hands the session to the statement a request sends right after its last one, before background work', async () => {
    const s = session();
    const order: string[] = [];
    await s.acquire('foreground');
    const page = waiter(s, 'background', 'page', order);
    s.release('foreground');
    // The request's next statement, sent as its last one's answer comes back (no timer in between).
    await Promise.resolve();
    const next = waiter(s, 'foreground', 'next statement', order);
    await turn();
    expect(order).toEqual(['next statement']);
    s.release('foreground');
    await turn();
    await Promise.all([page, next]);
    expect(order).toEqual(['next statement', 'page']);
  });

  it(`never passes a background waiter over more than ${FOREGROUND_STREAK} times in a row`, async () => {
    const s = session();
    const order: string[] = [];
    await s.acquire('foreground');
    const page = waiter(s, 'background', 'page', order);
    const requests = Array.from({ length: FOREGROUND_STREAK + 4 }, (_, i) =>
      waiter(s, 'foreground', `request ${i}`, order),
    );
    for (let i = 0; i < FOREGROUND_STREAK + 5; i++) {
      s.release(order.at(-1) === 'page' ? 'background' : 'foreground');
      await turn();
    }
    await Promise.all([page, ...requests]);
    expect(order.indexOf('page')).toBe(FOREGROUND_STREAK);
    expect(order.filter((name) => name !== 'page')).toEqual(
      Array.from({ length: FOREGROUND_STREAK + 4 }, (_, i) => `request ${i}`),
    );
  });

  it('is free again once the last holder lets go, and counts its waiters', async () => {
    const s = session();
    await s.acquire('background');
    const next = s.acquire('foreground');
    expect(s.usage()).toEqual({ busy: true, waiting: 1 });
    s.release('background');
    await next;
    expect(s.usage()).toEqual({ busy: true, waiting: 0 });
    s.release('foreground');
    await turn();
    expect(s.usage()).toEqual({ busy: false, waiting: 0 });
  });

  /*
   * Any interleaving of holders arriving in either lane and letting go: one holder at a time, every
   * waiter served, first come first served within a lane, and no background waiter passed over by
   * more than FOREGROUND_STREAK foreground holders in a row.
   */
  it('serves every waiter, one at a time, fairly, whatever the order of arrivals (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ lane: fc.constantFrom<Lane>('foreground', 'background'), releases: fc.nat(2) }),
          {
            minLength: 1,
            maxLength: 40,
          },
        ),
        async (steps) => {
          const s = session();
          /** Each grant: its lane, its arrival, and how many background waiters it went before. */
          const granted: { lane: Lane; id: number; backgroundWaiting: number }[] = [];
          const waitingBackground = new Set<number>();
          let holders = 0;
          let maxHolders = 0;
          const waits: Promise<void>[] = [];
          const held: Lane[] = [];
          const letGo = async () => {
            const lane = held.shift();
            if (lane === undefined) return;
            holders--;
            s.release(lane);
            await turn();
          };
          for (const [id, step] of steps.entries()) {
            if (step.lane === 'background') waitingBackground.add(id);
            waits.push(
              s.acquire(step.lane).then(() => {
                waitingBackground.delete(id);
                holders++;
                maxHolders = Math.max(maxHolders, holders);
                granted.push({ lane: step.lane, id, backgroundWaiting: waitingBackground.size });
                held.push(step.lane);
              }),
            );
            await Promise.resolve();
            for (let r = 0; r < step.releases; r++) await letGo();
          }
          while (granted.length < steps.length || held.length > 0) await letGo();
          await Promise.all(waits);
          expect(maxHolders).toBe(1);
          expect(granted.map((g) => g.id).sort((a, b) => a - b)).toEqual(steps.map((_, id) => id));
          for (const lane of ['foreground', 'background'] as const) {
            const ids = granted.filter((g) => g.lane === lane).map((g) => g.id);
            expect(ids).toEqual([...ids].sort((a, b) => a - b));
          }
          // Since the last background grant, at most FOREGROUND_STREAK foreground holders went while
          // background work waited.
          let passed = 0;
          for (const g of granted) {
            if (g.lane === 'background') passed = 0;
            else if (g.backgroundWaiting > 0) passed++;
            expect(passed).toBeLessThanOrEqual(FOREGROUND_STREAK);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
