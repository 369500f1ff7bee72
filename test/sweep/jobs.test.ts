/**
 * The sweep's job model: a grid file expands into every (file, parameter set,
 * window); jobs are plain JSON with ids that are hashes of their content
 * (stable across plannings and machines, blind to the data file's path);
 * seeds derive from (base seed, symbol, parameters, window); parameter sets
 * that differ only in trading share their training jobs. Grid files with a
 * mistake fail with a message naming the field.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { parseGrid } from '../../src/sweep/grid.js';
import { canonicalJson, jobId, planSweep, type SweepPlan, verifyJob } from '../../src/sweep/jobs.js';
import { loadGridFile } from '../../src/sweep/sweep.js';
import { CLI, REPO, syntheticFiles, TINY_GRID, tempDir, writeJson } from './helpers.js';

const tmp = tempDir('qf-sweep-jobs-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let files: string[];
let plan: SweepPlan;
beforeAll(async () => {
  files = await syntheticFiles(tmp);
  plan = await planSweep(files, parseGrid(TINY_GRID));
});

describe('job expansion', () => {
  it('crosses files x parameter sets x windows, training each distinct model once', () => {
    expect(plan.grid.paramSets).toHaveLength(4);
    expect(plan.runs).toHaveLength(8); // 2 files x 4 parameter sets
    // Windows per (file, horizon): the threshold does not change training, so both thresholds share the jobs.
    const windows = (symbol: string, horizon: number) =>
      plan.runs.find((r) => r.data.symbol === symbol && r.params.horizon === horizon)!.jobIds.length;
    const expected = (['AAA/USD', 'BBB/USD'] as const).reduce((n, s) => n + windows(s, 1) + windows(s, 3), 0);
    expect(windows('AAA/USD', 1)).toBeGreaterThanOrEqual(2);
    expect(plan.jobs).toHaveLength(expected);
    for (const run of plan.runs) {
      const twin = plan.runs.find(
        (r) => r !== run && r.data.symbol === run.data.symbol && r.params.horizon === run.params.horizon,
      )!;
      expect(twin.jobIds).toEqual(run.jobIds);
      expect(twin.params.threshold).not.toBe(run.params.threshold);
    }
    const ids = new Set(plan.jobs.map((j) => j.id));
    expect(ids.size).toBe(plan.jobs.length);
    for (const run of plan.runs) for (const id of run.jobIds) expect(ids.has(id)).toBe(true);
  });

  it('makes jobs plain JSON that survive a round trip, with the data named by path and content hash', () => {
    const job = plan.jobs[0]!;
    const copy = JSON.parse(JSON.stringify(job));
    expect(copy).toEqual(job);
    verifyJob(copy);
    expect(job.data.file).toBe(path.resolve(files[0]!));
    expect(job.data.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(job.window).toBe(1);
    expect(job.train).toMatchObject({ horizon: 1, trainWindow: 600, testWindow: 500, layers: [8], epochs: 3 });
  });

  it('gives the same ids when planned again, and ids that ignore where the data file lies', async () => {
    const again = await planSweep(files, parseGrid(TINY_GRID));
    expect(again.jobs.map((j) => j.id)).toEqual(plan.jobs.map((j) => j.id));
    expect(again.runs.map((r) => r.id)).toEqual(plan.runs.map((r) => r.id));
    const elsewhere = path.join(tempDir('qf-sweep-moved-'), path.basename(files[0]!));
    copyFileSync(files[0]!, elsewhere);
    const moved = await planSweep([elsewhere, files[1]!], parseGrid(TINY_GRID));
    expect(moved.jobs.map((j) => j.id)).toEqual(plan.jobs.map((j) => j.id));
    expect(moved.jobs[0]!.data.file).toBe(elsewhere);
    rmSync(path.dirname(elsewhere), { recursive: true, force: true });
  });

  it('changes the id with any training parameter, the seed or the window', () => {
    const { id, ...content } = plan.jobs[0]!;
    expect(jobId(content)).toBe(id);
    expect(jobId({ ...content, window: 2 })).not.toBe(id);
    expect(jobId({ ...content, seed: content.seed + 1 })).not.toBe(id);
    expect(jobId({ ...content, train: { ...content.train, epochs: 4 } })).not.toBe(id);
    expect(jobId({ ...content, data: { ...content.data, sha256: '0'.repeat(64) } })).not.toBe(id);
    expect(() => verifyJob({ ...plan.jobs[0]!, window: 2 })).toThrow(/does not match its content/);
  });

  it('derives one seed per (symbol, parameters, window), or uses the base seed for every window with seeds "fixed"', async () => {
    const seeds = plan.jobs.map((j) => j.seed);
    expect(new Set(seeds).size).toBe(seeds.length);
    for (const s of seeds) expect(Number.isInteger(s) && s >= 0 && s <= 0x7fffffff).toBe(true);
    const other = await planSweep(files, parseGrid({ ...TINY_GRID, seed: 6 }));
    expect(other.jobs[0]!.seed).not.toBe(plan.jobs[0]!.seed);
    const fixed = await planSweep(files, parseGrid({ ...TINY_GRID, seeds: 'fixed' }));
    expect(new Set(fixed.jobs.map((j) => j.seed))).toEqual(new Set([5]));
  });

  it('writes canonical JSON whatever the key order', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: null }] })).toBe(canonicalJson({ a: [{ c: null, d: 2 }], b: 1 }));
  });

  it('refuses windows that do not fit the data, naming the file', async () => {
    const grid = parseGrid({ fixed: { trainWindow: 5000, testWindow: 500 } });
    await expect(planSweep(files, grid)).rejects.toThrow(/too few for a 5000-row training window/);
  });
});

describe('grid file validation', () => {
  const bad: [unknown, RegExp][] = [
    [{ grid: { horizon: [1, 0] } }, /field 'grid\.horizon\[1\]'.*integer in \[1, 10000\], got 0/],
    [{ grid: { layers: [32, 16] } }, /field 'grid\.layers\[0\]'.*list of hidden layer sizes/],
    [{ grid: { epochs: [] } }, /field 'grid\.epochs'.*non-empty list/],
    [{ grid: { epoch: [5] } }, /field 'grid\.epoch'.*unknown parameter; expected one of .*epochs/],
    [{ fixed: { threshold: 1.5 } }, /field 'fixed\.threshold'.*in \[0, 1\], got 1\.5/],
    [{ fixed: { featureSet: 'fancy' } }, /field 'fixed\.featureSet'.*'relative' or 'seed'/],
    [{ fixed: { horizon: 2 }, grid: { horizon: [1, 2] } }, /field 'grid\.horizon'.*also given in "fixed"/],
    [{ grid: { threshold: [0.1, 0.1] } }, /field 'grid\.threshold\[1\]'.*repeats/],
    [{ rankBy: 'profit' }, /field 'rankBy'.*sharpe, totalReturn/],
    [{ seeds: 'random' }, /field 'seeds'/],
    [{ data: { from: 'yesterday' } }, /field 'data\.from'.*ISO date/],
    [{ extra: 1 }, /field 'extra'.*unknown field/],
    [[1, 2], /must hold a JSON object/],
  ];
  for (const [value, message] of bad) {
    it(`rejects ${JSON.stringify(value)}`, () => {
      expect(() => parseGrid(value)).toThrow(ConfigError);
      expect(() => parseGrid(value)).toThrow(message);
    });
  }

  it('names the grid file in errors, and the CLI prints one line and exits 1', () => {
    const file = writeJson(tmp, 'bad-grid.json', { fixed: { epochs: 0 } });
    expect(() => loadGridFile(file)).toThrow(/bad-grid\.json: field 'fixed\.epochs'/);
    const notJson = path.join(tmp, 'broken.json');
    writeFileSync(notJson, '{"grid": ');
    expect(() => loadGridFile(notJson)).toThrow(/broken\.json: the grid file is not valid JSON/);
    const run = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'sweep', '--data', files[0]!, '--grid', file], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(
      /^error: .*bad-grid\.json: field 'fixed\.epochs': must be an integer in \[1, 100000\], got 0/,
    );
  });
});
