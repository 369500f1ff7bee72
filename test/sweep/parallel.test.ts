/**
 * The executors change the speed, never the results: a sweep on the thread
 * pool gives exactly (deep-equal, bit for bit) the results of the same sweep
 * run sequentially; splitting a walk-forward run into per-window jobs and a
 * reduce gives what `runWalkForward` gives in one piece; window models go to
 * the registry once per job id; the reports are written.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWalkForward } from '../../backtest/ml-backtest.js';
import { loadCandles } from '../../src/data/index.js';
import { MANIFEST_FILE, sha256Hex } from '../../src/models/model-files.js';
import { ModelRegistry } from '../../src/registry/index.js';
import { parseGrid } from '../../src/sweep/grid.js';
import { renderSweepCsv, renderSweepHtml, renderSweepJson, writeSweepReports } from '../../src/sweep/report.js';
import { jobModelName } from '../../src/sweep/run-job.js';
import { runSweep, type SweepResult } from '../../src/sweep/sweep.js';
import { syntheticFiles, TINY_GRID, tempDir } from './helpers.js';

const tmp = tempDir('qf-sweep-parallel-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let files: string[];
let pooled: SweepResult;
let sequential: SweepResult;
const progress: number[] = [];

beforeAll(async () => {
  files = await syntheticFiles(tmp);
  const grid = parseGrid(TINY_GRID);
  pooled = await runSweep({
    files,
    grid,
    executor: { kind: 'pool', workers: 2 },
    registry: path.join(tmp, 'registry'),
    onProgress: (done) => progress.push(done),
  });
  sequential = await runSweep({ files, grid, executor: { kind: 'sequential' } });
});

describe('parallel and sequential sweeps', () => {
  it('give exactly the same results', () => {
    expect(pooled.plan.jobs.length).toBeGreaterThanOrEqual(8);
    expect(pooled.runs).toHaveLength(8);
    expect(pooled.runs).toStrictEqual(sequential.runs);
    expect(pooled.configs).toStrictEqual(sequential.configs);
    // Bit for bit, down to every probability and metric.
    const text = (r: SweepResult) => JSON.stringify({ runs: r.runs, configs: r.configs });
    expect(text(pooled)).toBe(text(sequential));
    // And the work really was spread over two threads.
    const workers = new Set(pooled.jobs.map((j) => j.worker));
    expect(workers.size).toBe(2);
    expect(new Set(sequential.jobs.map((j) => j.worker)).size).toBe(1);
  });

  it('reports progress per job', () => {
    expect(progress[0]).toBe(0);
    expect(progress[progress.length - 1]).toBe(pooled.plan.jobs.length);
    expect(progress).toHaveLength(pooled.plan.jobs.length + 1);
  });

  it('ranks configurations with their spread across windows and symbols', () => {
    const [best, ...rest] = pooled.configs;
    expect(best!.rank).toBe(1);
    for (const c of rest)
      if (c.score !== null && best!.score !== null) expect(c.score).toBeLessThanOrEqual(best!.score);
    for (const c of pooled.configs) {
      expect(c.symbols.map((s) => s.symbol).sort()).toEqual(['AAA/USD', 'BBB/USD']);
      expect(c.acrossWindows.n).toBe(
        c.symbols.reduce((n, s) => n + pooled.runs.find((r) => r.runId === s.runId)!.windows.length, 0),
      );
      expect(c.acrossWindows.min!).toBeLessThanOrEqual(c.acrossWindows.median!);
      expect(c.acrossWindows.median!).toBeLessThanOrEqual(c.acrossWindows.max!);
      expect(c.label).toMatch(/^horizon=\d threshold=0\.\d+$/);
    }
    for (const r of pooled.runs) {
      expect(r.ml.resolved).toBeGreaterThan(0);
      expect(r.ml.accuracy).not.toBeNull();
      expect(r.windows.every((w) => w.candles > 0 && w.testFrom <= w.testTo)).toBe(true);
    }
  });

  it('stores each window model in the registry once, keyed by job id', async () => {
    const registry = await ModelRegistry.open(path.join(tmp, 'registry'), { create: false });
    const names = await registry.names();
    expect(names.sort()).toEqual(pooled.plan.jobs.map((j) => jobModelName(j.id)).sort());
    // A second completion of the same jobs leaves the stored models alone.
    const again = await runSweep({
      files,
      grid: parseGrid(TINY_GRID),
      executor: { kind: 'pool', workers: 2 },
      registry: path.join(tmp, 'registry'),
    });
    expect(again.runs).toStrictEqual(pooled.runs);
    for (const name of await registry.names()) {
      const details = await registry.get(name);
      expect(details.versions.map((v) => v.version)).toEqual(['v1']);
    }
    const job = pooled.plan.jobs[0]!;
    const loaded = await registry.loadFiles(jobModelName(job.id));
    const window = pooled.runs.flatMap((r) => r.windows).find((w) => w.jobId === job.id)!;
    expect(window.modelId).toBe(`wf-${job.window}@${sha256Hex(loaded.files.get(MANIFEST_FILE)!).slice(0, 12)}`);
  });

  it('writes results.json, results.csv and a self-contained report.html', () => {
    const out = path.join(tmp, 'out');
    const written = writeSweepReports(pooled, out);
    for (const f of [written.json, written.csv, written.html]) expect(existsSync(f)).toBe(true);
    const json = JSON.parse(readFileSync(written.json, 'utf8'));
    expect(json.configs).toHaveLength(4);
    expect(json.runs).toHaveLength(8);
    expect(renderSweepJson(pooled)).toBe(readFileSync(written.json, 'utf8'));
    const csv = renderSweepCsv(pooled).trim().split('\n');
    expect(csv).toHaveLength(9);
    expect(csv[0]).toMatch(/^rank,score,symbol,timeframe,kind,featureSet,/);
    const html = renderSweepHtml(pooled);
    expect(html).toContain('uPlot');
    expect(html).not.toMatch(/<script src=/);
    expect(html).toContain('Spread of per-window sharpe by rank');
  });
});

describe('per-window jobs + reduce', () => {
  it('give what runWalkForward gives for the same seed', async () => {
    const grid = parseGrid({
      seed: 3,
      seeds: 'fixed',
      fixed: { ...TINY_GRID.fixed, horizon: 3, threshold: 0.05, fraction: 0.2, allowShort: true },
    });
    const sweep = await runSweep({ files: [files[0]!], grid, executor: { kind: 'sequential' } });
    const run = sweep.runs[0]!;
    const { candles } = await loadCandles(files[0]!);
    const wf = await runWalkForward({
      candles,
      trainWindow: 600,
      testWindow: 500,
      horizon: 3,
      network: { layers: [8], epochs: 3, learningRate: 0.01, earlyStopping: false },
      seed: 3,
      strategy: { threshold: 0.05, fraction: 0.2, allowShort: true },
    });
    expect(run.windows).toHaveLength(wf.windows.length);
    expect(run.metrics).toStrictEqual(wf.result.metrics);
    expect(run.buyAndHold).toStrictEqual(wf.result.benchmarks.find((b) => b.name === 'buy-and-hold'));
    expect(run.ml.accuracy).toBe(wf.stats.accuracy);
    expect(run.ml.resolved).toBe(wf.stats.resolved);
    expect(run.ml.brier).toBe(wf.stats.brierScore);
    run.windows.forEach((w, i) => {
      const v = wf.windows[i]!;
      expect([w.testFrom, w.testTo]).toEqual([v.testFrom, v.testTo]);
      expect(w.accuracy).toBe(v.stats.accuracy);
      expect(w.majorityBaseline).toBe(v.majorityBaseline);
    });
  });
});
