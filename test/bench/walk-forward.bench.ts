/**
 * Speed of `backtest --strategy ml` with retraining: the walk-forward ML
 * backtest over 40,000 synthetic 1h candles in 20 windows (train 4,000
 * steps, test the rest in 20 parts), every window trained, calibrated,
 * predicted and traded, fees and slippage on.
 * - cold: an empty window cache; warm: the same run again, every window's
 *   model read from the cache (nothing trains). Goal: cold <= 10 s, warm <= 2 s.
 * - the default kind (logistic) and the MLP (tfjs), the MLP's windows on one
 *   worker thread per core; baseline measured in the same run: the MLP's
 *   windows trained one after another on the main thread (workers 1).
 * Run: npx tsx test/bench/walk-forward.bench.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { runWalkForward, WALK_FORWARD_DEFAULTS, type WalkForwardOptions } from '../../backtest/ml-backtest.js';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { resolveFeatureSchema } from '../../src/features/feature-sets.js';

const CANDLES = 40_000;
const WINDOWS = 20;
const TRAIN = 4_000;
const GOAL_COLD = 10;
const GOAL_WARM = 2;

interface Timed {
  seconds: number;
  trainSeconds: number;
  windows: number;
  cached: number;
  accuracy: number | null;
}

async function timed(options: WalkForwardOptions): Promise<Timed> {
  const t0 = performance.now();
  const run = await runWalkForward(options);
  return {
    seconds: (performance.now() - t0) / 1000,
    trainSeconds: run.timings.trainSeconds,
    windows: run.windows.length,
    cached: run.timings.cachedWindows,
    accuracy: run.stats.accuracy,
  };
}

const s = (x: number) => `${x.toFixed(2)} s`;
const verdict = (x: number, goal: number) => (x <= goal ? 'met' : 'NOT met');

export async function run(): Promise<void> {
  const candles = generateSyntheticCandles({ count: CANDLES, seed: 42, symbol: 'SYN/USDT', timeframe: '1h' });
  // Rows start after the core set's history; the test part is split into WINDOWS windows.
  const rows = CANDLES - (resolveFeatureSchema('core').history ?? 0) - 2;
  const testWindow = Math.ceil((rows - TRAIN) / WINDOWS);
  const base = { candles, trainWindow: TRAIN, testWindow } as const;
  const dir = mkdtempSync(path.join(tmpdir(), 'qf-wf-bench-'));
  try {
    const logisticCold = await timed({ ...base, cache: path.join(dir, 'logistic') });
    const logisticWarm = await timed({ ...base, cache: path.join(dir, 'logistic') });
    const mlp = { ...base, kind: 'tfjs' } as const;
    const mlpSerial = await timed({ ...mlp, workers: 1 });
    const mlpCold = await timed({ ...mlp, cache: path.join(dir, 'tfjs') });
    const mlpWarm = await timed({ ...mlp, cache: path.join(dir, 'tfjs') });

    console.log('walk-forward bench');
    console.log(
      `  ${CANDLES.toLocaleString('en-US')} synthetic 1h candles, ${logisticCold.windows} windows of ` +
        `train ${TRAIN.toLocaleString('en-US')} / test ${testWindow.toLocaleString('en-US')}, ${availableParallelism()} cores`,
    );
    const line = (name: string, t: Timed) =>
      `  ${name}: ${s(t.seconds)} (training ${s(t.trainSeconds)}, ${t.cached}/${t.windows} windows from the cache, accuracy ${t.accuracy?.toFixed(4)})`;
    console.log(line('logistic (default), cold', logisticCold));
    console.log(line('logistic (default), warm', logisticWarm));
    console.log(
      line(`MLP ${JSON.stringify(WALK_FORWARD_DEFAULTS.network)}, windows one after another (baseline)`, mlpSerial),
    );
    console.log(line('MLP, cold, a worker thread per core', mlpCold));
    console.log(line('MLP, warm', mlpWarm));
    console.log(
      `  ratio MLP cold on workers / one after another: ${(mlpCold.seconds / mlpSerial.seconds).toFixed(2)}; ` +
        `warm / cold: logistic ${(logisticWarm.seconds / logisticCold.seconds).toFixed(2)}, MLP ${(mlpWarm.seconds / mlpCold.seconds).toFixed(2)}`,
    );
    console.log(
      `  goal cold <= ${GOAL_COLD} s: logistic ${verdict(logisticCold.seconds, GOAL_COLD)}, MLP ${verdict(mlpCold.seconds, GOAL_COLD)}; ` +
        `warm <= ${GOAL_WARM} s: logistic ${verdict(logisticWarm.seconds, GOAL_WARM)}, MLP ${verdict(mlpWarm.seconds, GOAL_WARM)}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
