/** `quantflow backtest` end to end, in a child process as a user runs it. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = mkdtempSync(path.join(tmpdir(), 'qf-backtest-cli-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'backtest', ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, CI: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('quantflow backtest (CLI)', () => {
  it('runs the synthetic default, writes report.html and result.json, exits 0', () => {
    const dir = path.join(out, 'synthetic');
    const r = cli('--synthetic', '--fast', '12', '--slow', '40', '--out', dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Backtest: sma-crossover\(12,40,long-only\) on SYN\/USDT \(1h\)/);
    expect(r.stdout).toMatch(/buy-and-hold/);
    expect(r.stdout).toContain(`wrote ${path.join(dir, 'report.html')}`);
    const html = readFileSync(path.join(dir, 'report.html'), 'utf8');
    expect(html).toContain('<!doctype html>');
    expect(html).toContain('uPlot');
    const result = JSON.parse(readFileSync(path.join(dir, 'result.json'), 'utf8'));
    expect(result.candles).toBe(20_000);
    expect(result.symbols).toEqual(['SYN/USDT']);
    expect(result.equityCurve).toHaveLength(20_000);
    expect(result.trades.length).toBe(result.metrics.trades);
    expect(result.benchmarks[0].name).toBe('buy-and-hold');
  });

  it('prints a JSON summary with --json', () => {
    const dir = path.join(out, 'json');
    const r = cli('--json', '--mode', 'long-short', '--whole-units', '--out', dir);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.strategy).toBe('sma-crossover(10,30,long-short)');
    expect(summary.config).toMatchObject({ allowShort: true, fractional: false, closeAtEnd: true });
    expect(summary.files.json).toBe(path.join(dir, 'result.json'));
    expect(existsSync(summary.files.html)).toBe(true);
  });

  it('exits 1 with one error line on a missing data file', () => {
    const r = cli('--data', path.join(out, 'nope.csv'), '--out', path.join(out, 'missing'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([`error: ${path.join(out, 'nope.csv')}: data file not found`]);
    expect(existsSync(path.join(out, 'missing'))).toBe(false);
  });

  it('exits 1 with one error line on invalid options', () => {
    const r = cli('--fast', '50', '--slow', '20', '--out', path.join(out, 'bad'));
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      "error: field 'fast': SMA fast period (50) must be smaller than the slow period (20)",
    ]);
    const unknown = cli('--strategy', 'nope', '--out', path.join(out, 'bad'));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe("error: field 'strategy': unknown strategy 'nope' (available: sma, ml)");
  });
});
