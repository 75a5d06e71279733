// The async-iteration loop shared by RingBuffer and PerfBuffer: take the next record from the rings in
// turn (starting after the one that gave the last record, so no ring starves), hand out the reused
// view for one step, and wait on the epoll fd when every ring is empty.

import type { RecordView } from './record.js';
import { yieldToEventLoop } from './shared.js';
import type { Waiter } from './waiter.js';

/**
 * Records handed out back to back before the loop yields to the event loop once. Each step of a
 * `for await` is a promise continuation, so while records keep coming the event loop would never
 * run (a SIGINT handler that closes the stream included). A hop costs about a microsecond, so per
 * 1024 records it is lost in the records' own cost.
 */
const RECORDS_PER_TURN = 1024;

/** A ring that can put its next record into the shared view and later release it. */
export interface PeekableRing {
  readonly index: number;
  /** @internal (stripped from the .d.ts like the implementations, so they keep satisfying it) */
  _release(): void;
}

export interface RoundRobinHooks<R extends PeekableRing> {
  rings: readonly R[];
  view: RecordView;
  waiter: Waiter;
  /** Fills `view` with the ring's next record; false when the ring is empty. */
  peek(ring: R): boolean;
  /** Records which ring's record is out (null once it is released). */
  hold(ring: R | null): void;
  closed(): boolean;
  /** Passed to Waiter.wait: records a wake-up announced before the watch started. */
  readyNow?: (() => boolean) | undefined;
}

export async function* roundRobin<R extends PeekableRing>(h: RoundRobinHooks<R>): AsyncGenerator<RecordView, void, undefined> {
  let current = 0;
  let sinceTurn = 0;
  for (;;) {
    if (sinceTurn >= RECORDS_PER_TURN) {
      sinceTurn = 0;
      await yieldToEventLoop();
    }
    if (h.closed()) return;
    let found: R | null = null;
    for (let k = 0; k < h.rings.length; k++) {
      const ring = h.rings[(current + k) % h.rings.length]!;
      if (h.peek(ring)) {
        found = ring;
        current = ring.index;
        break;
      }
    }
    if (found) {
      sinceTurn++;
      h.hold(found);
      try {
        yield h.view;
      } finally {
        h.view._len = -1;
        h.hold(null);
        found._release();
      }
      continue;
    }
    sinceTurn = 0;
    if ((await h.waiter.wait(-1, undefined, h.readyNow)) === 'closed') return;
  }
}
