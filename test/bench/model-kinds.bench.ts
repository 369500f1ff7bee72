/**
 * Which model family wins where: the walk-forward backtest (runWalkForward
 * with its defaults: 4,000-row training windows, 2,000-row test windows,
 * horizon 1, embargo 1, Platt calibration) of every trainable kind on the
 * shared Binance BTC/USDT and ETH/USDT 1h candles. Scores over all test
 * windows next to the naive baselines (majority class of the rows before the
 * first test window, always up, reversal, momentum) and the base-rate Brier.
 * Kinds whose Python packages are missing are left out with the reason.
 * Run: npm run bench -- model-kinds
 */
import { pathToFileURL } from 'node:url';
import { runWalkForward } from '../../backtest/ml-backtest.js';
import { textTable } from '../../src/cli/text-table.js';
import { buildDataset } from '../../src/features/dataset.js';
import { evaluatePredictions } from '../../src/models/evaluation.js';
import { trainableKinds } from '../../src/models/model-kinds.js';
import { hasSharedData, loadSharedCandles } from '../helpers/shared-data.js';

const FILES = ['binance_BTC-USDT_1h.csv', 'binance_ETH-USDT_1h.csv'];
const f4 = (x: number | null | undefined) => (typeof x === 'number' ? x.toFixed(4) : '-');

export async function run(): Promise<void> {
  console.log('model kinds bench (walk-forward, defaults)');
  const rows: string[][] = [];
  for (const file of FILES) {
    if (!hasSharedData(file)) continue;
    const { candles } = await loadSharedCandles(file);
    const ds = buildDataset(candles, { horizon: 1 });
    const rowOf = new Map<number, number>();
    for (let i = 0; i < ds.rows; i++) rowOf.set(ds.timestamps[i]!, i);
    for (const { kind } of trainableKinds()) {
      if (kind === 'python') continue; // the bundled pure-Python logistic regression: the same model as 'logistic'
      const started = performance.now();
      let result: Awaited<ReturnType<typeof runWalkForward>>;
      try {
        result = await runWalkForward({ candles, kind, benchmarks: false });
      } catch (err) {
        console.log(`  ${file} ${kind}: skipped (${(err as Error).message})`);
        continue;
      }
      const p: number[] = [];
      const y: number[] = [];
      const moves: number[] = [];
      let first = Number.POSITIVE_INFINITY;
      const [a, b] = result.traded[0]!;
      for (let i = a; i < b; i++) {
        const c = candles[i]!;
        const r = rowOf.get(c.timestamp);
        const prediction = result.predictions.get(c.symbol, c.timestamp);
        if (r === undefined || prediction === undefined) continue;
        first = Math.min(first, r);
        p.push(prediction.prediction);
        y.push(ds.labels[r]!);
        moves.push(ds.lastMoves[r]!);
      }
      const m = evaluatePredictions(p, y, { trainLabels: ds.labels.subarray(0, first), lastMoves: moves });
      rows.push([
        file.replace('binance_', '').replace('.csv', ''),
        kind,
        String(result.windows.length),
        String(m.rows),
        f4(m.accuracy),
        f4(m.rocAuc),
        f4(m.brier),
        f4(m.baseRateBrier),
        f4(m.majorityBaseline),
        f4(m.alwaysUpBaseline),
        f4(m.reversalBaseline),
        f4(m.momentumBaseline),
        ((performance.now() - started) / 1000).toFixed(1),
      ]);
    }
  }
  const header = ['DATA', 'KIND', 'WINDOWS', 'ROWS', 'ACCURACY', 'ROC AUC', 'BRIER', 'BASE-RATE BRIER'];
  header.push('MAJORITY', 'ALWAYS UP', 'REVERSAL', 'MOMENTUM', 'SECONDS');
  console.log(textTable(header, rows));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
