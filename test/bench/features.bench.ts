/**
 * Streaming feature updates per second against a naive bot that recomputes
 * its indicators from scratch over the last 100 candles on every new candle
 * (technicalindicators' batch `calculate`). Run: npx tsx test/bench/features.bench.ts
 */
import { pathToFileURL } from 'node:url';
import { BollingerBands, EMA, MACD, RSI, SMA } from 'technicalindicators';
import type { Candle } from '../../src/core/types.js';
import { extractFeaturesBatch, type FeatureSetName, FeatureStream } from '../../src/features/index.js';
import { randomWalkCandles } from '../helpers/random-walk-candles.js';

const CANDLES = 100_000;
const NAIVE_CANDLES = 3_000;
const WINDOW = 100;
const GOAL = 50;

function streamingRate(candles: readonly Candle[], set: FeatureSetName): number {
  let best = 0;
  // Best of three passes: the first also warms up the JIT.
  for (let pass = 0; pass < 3; pass++) {
    const stream = new FeatureStream(set);
    const out = new Float64Array(stream.width);
    let sink = 0;
    const t0 = performance.now();
    for (const c of candles) if (stream.update(c, out) !== undefined) sink += out[0]!;
    const seconds = (performance.now() - t0) / 1000;
    if (!Number.isFinite(sink)) throw new Error('non-finite features');
    best = Math.max(best, candles.length / seconds);
  }
  return best;
}

/** What a bot without incremental state does: every indicator of the seed set over the last WINDOW candles. */
function naiveRate(candles: readonly Candle[]): number {
  const closes = candles.map((c) => c.close);
  const volumes = candles.map((c) => c.volume);
  let sink = 0;
  const t0 = performance.now();
  for (let i = WINDOW; i < WINDOW + NAIVE_CANDLES; i++) {
    const values = closes.slice(i - WINDOW + 1, i + 1);
    const vols = volumes.slice(i - WINDOW + 1, i + 1);
    sink += SMA.calculate({ period: 10, values }).at(-1)!;
    sink += SMA.calculate({ period: 20, values }).at(-1)!;
    sink += EMA.calculate({ period: 12, values }).at(-1)!;
    sink += EMA.calculate({ period: 26, values }).at(-1)!;
    sink += RSI.calculate({ period: 14, values }).at(-1)!;
    const macd = MACD.calculate({
      values,
      fastPeriod: 12,
      slowPeriod: 26,
      signalPeriod: 9,
      SimpleMAOscillator: false,
      SimpleMASignal: false,
    }).at(-1)!;
    sink += macd.MACD! + macd.signal! + macd.histogram!;
    const bb = BollingerBands.calculate({ period: 20, stdDev: 2, values }).at(-1)!;
    sink += bb.upper + bb.middle + bb.lower;
    sink += SMA.calculate({ period: 10, values: vols }).at(-1)!;
    sink += SMA.calculate({ period: 5, values: vols }).at(-1)!;
  }
  const seconds = (performance.now() - t0) / 1000;
  if (!Number.isFinite(sink)) throw new Error('non-finite indicators');
  return NAIVE_CANDLES / seconds;
}

function batchRate(candles: readonly Candle[], set: FeatureSetName): number {
  const t0 = performance.now();
  extractFeaturesBatch(candles, set);
  return candles.length / ((performance.now() - t0) / 1000);
}

const fmt = (n: number) => `${Math.round(n).toLocaleString('en-US')} candles/s`;

export async function run(): Promise<void> {
  const candles = randomWalkCandles({ count: CANDLES, seed: 42 });
  const seed = streamingRate(candles, 'seed');
  const relative = streamingRate(candles, 'relative');
  const core = streamingRate(candles, 'core');
  const naive = naiveRate(candles);
  const batch = batchRate(candles, 'seed');
  const ratio = seed / naive;
  console.log('features bench');
  console.log(`  streaming, seed set (${CANDLES.toLocaleString('en-US')} candles):     ${fmt(seed)}`);
  console.log(`  streaming, relative set (${CANDLES.toLocaleString('en-US')} candles): ${fmt(relative)}`);
  console.log(`  streaming, core set, the default (${CANDLES.toLocaleString('en-US')} candles): ${fmt(core)}`);
  console.log(`  batch extractor, seed set (whole series):  ${fmt(batch)}`);
  console.log(`  baseline: recompute seed indicators over last ${WINDOW} candles each candle: ${fmt(naive)}`);
  console.log(
    `  ratio streaming/baseline (seed): ${ratio.toFixed(0)}x (goal >= ${GOAL}x: ${ratio >= GOAL ? 'met' : 'NOT met'})`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
