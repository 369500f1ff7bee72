/**
 * `quantflow paper --model ... --tracker FILE` as a process against the fake
 * exchange: the backtest's PredictionTracker records the paper run's
 * predictions, a restart continues the same file (the warm-up's predictions,
 * made again, are not recorded twice), and the predictions are the ones a
 * backtest of the same model over the same candles records.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulation } from '../../src/engine/simulation.js';
import { writeModelDirectory } from '../../src/models/model-files.js';
import type { ModelPredictor } from '../../src/models/model-predictor.js';
import { RealtimePredictor } from '../../src/models/realtime-predictor.js';
import { trainModel } from '../../src/models/train.js';
import { ModelRegistry } from '../../src/registry/index.js';
import { PredictionTracker } from '../../src/tracking/prediction-tracker.js';
import { MlStrategy } from '../../strategies/ml-strategy.js';
import { NO_COSTS } from '../engine/helpers.js';
import { type FakeExchange, startFakeExchange } from '../fake-exchange/index.js';
import { startCli } from './cli-process.js';
import { MIN, SYMBOL, T0, toCandles, wavyCandles } from './helpers.js';

describe('quantflow paper --tracker', () => {
  let dir: string;
  let fake: FakeExchange;
  let model: ModelPredictor;
  let registry: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'qf-paper-tracker-'));
    const trained = await trainModel({
      candles: toCandles(wavyCandles(400, T0 - 500 * MIN, 200)),
      seed: 7,
      name: 'tiny',
      featureSet: 'relative',
      kind: 'tfjs',
      network: { layers: [8], epochs: 3, earlyStopping: false, learningRate: 0.01 },
    });
    model = trained.predictor;
    const modelDir = path.join(dir, 'model');
    await writeModelDirectory(modelDir, trained.files);
    registry = path.join(dir, 'registry');
    await (await ModelRegistry.open(registry)).register('tiny', modelDir);
    fake = await startFakeExchange();
    fake.setCandles(SYMBOL, wavyCandles(120, T0, 200));
  });
  afterAll(async () => {
    await fake?.close();
    await model?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records every prediction once, across a restart, as the backtest records them', { timeout: 40_000 }, async () => {
    const warmup = new RealtimePredictor(model).warmupCandles;
    const tracker = path.join(dir, 'preds.jsonl');
    const args = [
      'paper',
      ...['--exchange', 'binance', '--symbol', SYMBOL, '--timeframe', '1m', '--model', 'tiny'],
      ...['--registry', registry, '--threshold', '0.1', '--warmup', String(warmup), '--tracker', tracker],
      ...['--poll-ms', '20', '--no-websocket', '--no-ticks', '--journal', path.join(dir, 'paper.json')],
      ...['--exchange-options', '{"fetchMarkets":{"types":["spot"]},"fetchCurrencies":false,"fetchMargins":false}'],
    ];
    const env = { QUANTFLOW_EXCHANGE_URL_OVERRIDE: fake.url };
    const minute = (i: number) => new Date(T0 + i * MIN).toISOString().replace(':00.000Z', 'Z');
    const session = async (from: number, to: number) => {
      fake.setNow(T0 + from * MIN);
      const child = startCli(args, env);
      try {
        await child.waitFor(/; trading/, 15_000);
        for (let i = from; i < to; i++) {
          fake.setNow(T0 + (i + 1) * MIN);
          await child.waitFor(new RegExp(`${minute(i)} ${SYMBOL.replace('/', '\\/')}`));
        }
        child.proc.kill('SIGTERM');
        expect(await child.exited(), child.output()).toBe(0);
      } finally {
        child.proc.kill('SIGKILL');
      }
    };
    await session(warmup, warmup + 10); // candles 0 .. warmup + 9
    await session(warmup + 13, warmup + 20); // down for three candles, then on to warmup + 19

    const recorded = PredictionTracker.open(tracker);
    const stats = recorded.stats();
    // the predictor's first prediction is on its warmup-th candle (index warmup - 1): one per candle from there
    expect(stats.count).toBe(20 + 1);
    // the backtest's tracker over the same candles, from the same first candle
    const reference = new PredictionTracker();
    const sim = createSimulation(
      NO_COSTS,
      new MlStrategy({ predictor: new RealtimePredictor(model), threshold: 0.1, tracker: reference }),
    );
    await sim.engine.start();
    for (const c of toCandles(wavyCandles(warmup + 20, T0, 200))) {
      const p = sim.engine.processCandle(c);
      if (p !== undefined) await p;
    }
    await sim.engine.stop();
    // the first session's predictions, in the order recorded (ids 1..11)
    const firstRun = (t: PredictionTracker) =>
      Array.from({ length: 11 }, (_, i) => t.get(i + 1)).map((p) => [(p!.timestamp - T0) / MIN, p!.prediction]);
    expect(firstRun(recorded)).toEqual(firstRun(reference));
    expect(firstRun(recorded)[0]![0]).toBe(warmup - 1);
    recorded.close();
  });
});
