/**
 * Long request work (validating thousands of candles, their features, a big
 * batch through the model, recording in the tracker) done in slices, one per
 * turn of the event loop, so /health and small predictions are answered in
 * between instead of waiting behind a whole batch. A slice is sized to take
 * about a millisecond or two.
 */

/** Resolves on the next turn of the event loop, after pending I/O (new requests) has been handled. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Calls `fn(start, end)` over [0, n) in slices of `size`, yielding to the event loop between slices. */
export async function inSlices(
  n: number,
  size: number,
  fn: (start: number, end: number) => void | Promise<void>,
): Promise<void> {
  for (let start = 0; start < n; start += size) {
    if (start > 0) await nextTurn();
    await fn(start, Math.min(n, start + size));
  }
}

/** Runs tasks one after another (each may yield between its slices), in the order they were queued. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
