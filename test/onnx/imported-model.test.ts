/**
 * A model trained elsewhere, the way a user does it: `quantflow features
 * export` writes the training rows, PyTorch trains on them and exports with
 * torch.onnx.export, `quantflow models import` makes the model directory and
 * `models register` stores it. Then the same registered model, unchanged:
 * - backtests (`quantflow backtest --strategy ml --model`) on candles after
 *   its training range;
 * - passes `quantflow check-leaks --model`;
 * - answers over the HTTP API (real sockets on 127.0.0.1) what it answers in
 *   process;
 * - trades `quantflow paper` against the fake exchange, printing the
 *   probabilities it gives in process for the same candles.
 * Every step runs the real CLI as a child process. Skips with the reason
 * when no Python with torch and onnx is found.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Candle } from '../../src/core/types.js';
import { writeCandlesCsv } from '../../src/data/candle-csv-writer.js';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { buildDataset } from '../../src/features/dataset.js';
import { PrecomputedPredictor } from '../../src/models/precomputed-predictor.js';
import type { Predictor } from '../../src/models/predictor.js';
import { loadPredictor, ModelRegistry } from '../../src/registry/index.js';
import { createServer } from '../../src/server/index.js';
import { startCli } from '../exchange/cli-process.js';
import { MIN, SYMBOL, T0, toCandles, wavyCandles } from '../exchange/helpers.js';
import { type FakeExchange, startFakeExchange } from '../fake-exchange/index.js';
import { pythonWith, runFixture } from '../models/onnx-helpers.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const TORCH = await pythonWith(
  ['numpy', 'onnx', 'torch'],
  'imported ONNX model (backtest, paper, API, check-leaks) tests',
);

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, CI: '1', QUANTFLOW_REGISTRY: '', QUANTFLOW_DEBUG: '' },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const iso = (ms: number) => new Date(ms).toISOString();

describe.skipIf(TORCH === undefined)('an ONNX model imported from a file', () => {
  let dir: string;
  let registryDir: string;
  let later: Candle[];
  let predictor: Predictor;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'qf-imported-'));
    registryDir = path.join(dir, 'registry');
    const candles = generateSyntheticCandles({ mode: 'planted', count: 4000, seed: 21 });
    const train = candles.slice(0, 2500);
    later = candles.slice(2500);
    await writeCandlesCsv(path.join(dir, 'synthetic_SYN-USDT_1h.csv'), train);
    await writeCandlesCsv(path.join(dir, 'later_SYN-USDT_1h.csv'), later);

    const exported = cli(
      'features',
      'export',
      '--data',
      path.join(dir, 'synthetic_SYN-USDT_1h.csv'),
      '--features',
      'relative',
      '--out',
      path.join(dir, 'features.csv'),
    );
    expect(exported.code).toBe(0);
    expect(exported.stdout).toMatch(/^wrote 2,\d{3} rows x 21 columns of 'relative' features/);
    const schema = cli('features', 'schema', '--features', 'relative');
    expect(schema.code).toBe(0);
    writeFileSync(path.join(dir, 'schema.json'), schema.stdout);
    runFixture(TORCH!, 'torch_mlp.py', [path.join(dir, 'features.csv'), dir]);

    const ds = buildDataset(train, { horizon: 1, featureSet: 'relative' });
    const imported = cli(
      'models',
      'import',
      '--onnx',
      path.join(dir, 'mlp.onnx'),
      '--features',
      path.join(dir, 'schema.json'),
      '--scaler',
      'none',
      '--trained-from',
      iso(ds.timestamps[0]!),
      '--trained-to',
      iso(ds.timestamps[ds.rows - 1]!),
      '--train-rows',
      String(ds.rows),
      '--symbol',
      'SYN/USDT',
      '--timeframe',
      '1h',
      '--out',
      path.join(dir, 'imported'),
    );
    expect(imported.stderr).toBe('');
    expect(imported.stdout).toMatch(
      /^imported 'imported': 21 columns of feature set 'relative' v1 \(lookback 1\), P\(up\) 1 candle\(s\) ahead, read from output 'probabilities'; checked on node \(cpu\)/,
    );
    const registered = cli('models', 'register', 'imp', path.join(dir, 'imported'), '--registry', registryDir);
    expect(registered.stdout).toMatch(/^registered imp@v1 /);
    predictor = await loadPredictor(await ModelRegistry.open(registryDir, { create: false }), 'imp');
  }, 180_000);

  afterAll(async () => {
    await predictor?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused at import with one clear line when its output is not a probability', () => {
    const r = cli(
      'models',
      'import',
      '--onnx',
      path.join(dir, 'logits.onnx'),
      '--features',
      'relative',
      '--scaler',
      'none',
      '--trained-from',
      '2020-01-01',
      '--trained-to',
      '2020-02-01',
      '--train-rows',
      '100',
      '--out',
      path.join(dir, 'refused'),
    );
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^error: .*logits\.onnx, field 'outputs': output 'logits' gives \[.*\] for probe row \d: not class probabilities/,
    );
  });

  it('backtests with quantflow backtest --strategy ml --model on candles after its training range', () => {
    const r = cli(
      'backtest',
      '--strategy',
      'ml',
      '--model',
      'imp',
      '--registry',
      registryDir,
      '--data',
      path.join(dir, 'later_SYN-USDT_1h.csv'),
      '--min-confidence',
      '0.05',
      '--json',
      '--out',
      path.join(dir, 'bt'),
    );
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    const ml = Object.fromEntries(summary.sections[0].rows);
    expect(ml.setup).toMatch(/^model imp@v1 \(onnx, SYN\/USDT 1h, trained on /);
    expect(ml.WARNING).toBeUndefined(); // no in-sample overlap
    expect(ml.accuracy).toBeGreaterThan(0.5);
    expect(summary.benchmarks.map((b: { name: string }) => b.name)).toContain('buy-and-hold');
  });

  it('passes quantflow check-leaks --model', () => {
    const r = cli(
      'check-leaks',
      '--data',
      path.join(dir, 'later_SYN-USDT_1h.csv'),
      '--model',
      'imp',
      '--registry',
      registryDir,
      '--samples',
      '25',
      '--max-history',
      '400',
      '--full-history-samples',
      '3',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/predictions of imp@v1 /);
    expect(r.stdout).toMatch(/OK: no look-ahead in 21 features .*; predictions unchanged by truncation/);
  });

  it('answers over the HTTP API what it answers in process', async () => {
    const key = 'onnx-test-key-5b7d9f1a3c';
    const server = await createServer({
      registry: registryDir,
      apiKeys: [{ label: 'bot', key, scopes: 'predict+read' }],
      env: {},
      logger: false,
    });
    const url = await server.listen({ port: 0, host: '127.0.0.1' });
    try {
      const post = async (body: unknown) => {
        const res = await fetch(`${url}/api/ml/predict`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: res.status, json: (await res.json()) as Record<string, unknown> };
      };
      const ds = buildDataset(later, { horizon: 1, featureSet: 'relative' });
      const n = 200;
      const rows = Array.from({ length: n }, (_, i) =>
        Array.from(ds.features.subarray(i * ds.cols, (i + 1) * ds.cols)),
      );
      const batch = await post({ model: 'imp', rows });
      expect(batch.status).toBe(200);
      const local = await predictor.predictBatch(ds.features.subarray(0, n * ds.cols));
      const remote = batch.json.predictions as number[];
      expect(remote).toHaveLength(n);
      for (let i = 0; i < n; i++) expect(remote[i]).toBeCloseTo(local[i]!, 6);

      const window = later.slice(0, 300);
      const fromCandles = await post({
        model: 'imp',
        candles: window.map((c) => [c.timestamp, c.open, c.high, c.low, c.close, c.volume]),
      });
      expect(fromCandles.status).toBe(200);
      const reference = await PrecomputedPredictor.fromSeries(predictor, [window]);
      const last = window.at(-1)!;
      expect(fromCandles.json.prediction as number).toBeCloseTo(
        reference.get(last.symbol, last.timestamp)!.prediction,
        6,
      );

      const models = await fetch(`${url}/api/ml/models`, { headers: { authorization: `Bearer ${key}` } });
      const listing = (await models.json()) as { models: Array<{ name: string; metadata: { kind: string } }> };
      expect(listing.models.find((m) => m.name === 'imp')?.metadata.kind).toBe('onnx');
    } finally {
      await server.close();
    }
  });

  describe('quantflow paper against the fake exchange', () => {
    let fake: FakeExchange;
    afterAll(async () => fake?.close());

    it('trades with the probabilities the model gives in process for the same candles', {
      timeout: 60_000,
    }, async () => {
      fake = await startFakeExchange({ balances: { USDT: 10_000 } });
      const series = wavyCandles(60);
      fake.setCandles(SYMBOL, series);
      const reference = await PrecomputedPredictor.fromSeries(predictor, [toCandles(series)]);
      fake.setNow(T0 + 40 * MIN); // candles 0..39 are closed: the warm-up sees the series from its start
      const child = startCli(
        [
          'paper',
          '--exchange',
          'binance',
          '--symbol',
          SYMBOL,
          '--timeframe',
          '1m',
          '--model',
          'imp',
          '--registry',
          registryDir,
          '--threshold',
          '0.02',
          '--warmup',
          '40',
          '--poll-ms',
          '20',
          '--no-ticks',
          '--timeout-ms',
          '600',
          '--journal',
          path.join(dir, 'paper.json'),
          '--exchange-options',
          '{"fetchMarkets":{"types":["spot"]},"fetchCurrencies":false,"fetchMargins":false}',
        ],
        { QUANTFLOW_EXCHANGE_URL_OVERRIDE: fake.url },
      );
      try {
        await child.waitFor(/warm-up: 40 candles; trading/, 30_000);
        expect(child.output()).toMatch(/with ml\(/);
        for (let i = 40; i < 50; i++) {
          fake.setNow(T0 + (i + 1) * MIN);
          const time = new Date(T0 + i * MIN).toISOString().replace(':00.000Z', 'Z');
          const line = await child.waitFor(new RegExp(`${time} ${SYMBOL} close=\\S+ signal=\\S+ p=(\\d\\.\\d{3})`));
          const printed = Number(/p=(\d\.\d{3})/.exec(line)![1]);
          expect(printed).toBeCloseTo(reference.get(SYMBOL, T0 + i * MIN)!.prediction, 3);
        }
      } finally {
        child.proc.kill('SIGTERM');
        await child.exited();
      }
      expect(child.output()).toMatch(/stopped: \d+ candles, \d+ signals, .* state saved to /);
    });
  });
});
