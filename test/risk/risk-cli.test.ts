/** `quantflow risk` end to end, in a child process as a user runs it (each run starts tsx: about 1.5 s). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCandlesCsv } from '../../src/data/index.js';
import { randomWalkCandles } from '../helpers/random-walk-candles.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'qf-risk-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const files = ['AAA', 'BBB', 'CCC'].map((s) => path.join(dir, `test_${s}-USDT_1h.csv`));
const windows = ['--train-window', '200', '--test-window', '50'];

beforeAll(async () => {
  for (const [i, file] of files.entries()) {
    const symbol = `${['AAA', 'BBB', 'CCC'][i]}/USDT`;
    await writeCandlesCsv(file, randomWalkCandles({ count: 400, seed: 10 + i, symbol, volatility: 0.005 * (i + 1) }));
  }
});

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'risk', ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, CI: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('quantflow risk (CLI)', () => {
  it('prints the walk-forward tables and a portfolio report; --json and --out give the same report', () => {
    const text = cli('--data', ...files, ...windows, '--weights', 'AAA/USDT=0.5,CCC/USDT=0.3');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^risk walk-forward: AAA\/USDT, BBB\/USDT, CCC\/USDT \(400 common bars\)/);
    expect(text.stdout).toMatch(/\nmin-variance +\S+ +0\.\d+x/);
    expect(text.stdout).toMatch(/filtered-garch VaR passes Kupiec at 5% on \d\/3 symbols/);
    expect(text.stdout).toMatch(/portfolio risk over the last 200 bars/);

    const out = path.join(dir, 'risk.json');
    const json = cli(
      '--data',
      ...files,
      ...windows,
      '--positions',
      'BBB/USDT=2',
      '--cash',
      '100',
      '--json',
      '--out',
      out,
    );
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(report);
    expect(report.walkForward.windows).toBe(4);
    expect(report.walkForward.portfolios.map((p: { method: string }) => p.method)).toEqual([
      'equal',
      'inverse-vol',
      'min-variance',
      'risk-parity',
    ]);
    expect(report.portfolio.weights[0]).toBe(0);
    expect(report.portfolio.weights[1]).toBeGreaterThan(0);
  });

  it('fails with one clear line on bad flags and data', () => {
    const unknown = cli('--data', ...files, '--train-window', '200', '--weights', 'ZZZ/USDT=1');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^error: symbol ZZZ\/USDT: weight for ZZZ\/USDT, which is not in the data/m);
    const optimizer = cli('--data', ...files, '--optimizers', 'equal,best');
    expect(optimizer.code).toBe(1);
    expect(optimizer.stderr).toMatch(/unknown optimizer 'best'/);
  });
});
