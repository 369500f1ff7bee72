/** Shared by the benchmarks: per-call latency percentiles of an async function. */

function percentile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** p50 and p99 in ms of `calls` sequential calls of `fn(i)`, after up to 500 warm-up calls. */
export async function latencies(
  calls: number,
  fn: (i: number) => Promise<unknown>,
): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < Math.min(500, calls); i++) await fn(i); // warm-up
  const t = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await fn(i);
    t[i] = performance.now() - t0;
  }
  t.sort();
  return { p50: percentile(t, 0.5), p99: percentile(t, 0.99) };
}
