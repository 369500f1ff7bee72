/**
 * `downloadCandles` and `quantflow download`, run with the REAL ccxt binance class
 * against the fake exchange: pagination, resume, faults, closed candles only.
 */
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataError, ExchangeError } from '../../src/core/errors.js';
import { loadCandles } from '../../src/data/index.js';
import { type DownloadCandlesOptions, downloadCandles } from '../../src/exchange/candle-download.js';
import {
  type BinanceClient,
  createCcxtClient,
  type FakeCandle,
  type FakeExchange,
  startFakeExchange,
} from '../fake-exchange/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** tsx's loader by absolute URL: the CLI runs with a temporary directory as its cwd. */
const TSX = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const T0 = Date.UTC(2024, 0, 1);
const MIN = 60_000;
const COUNT = 3500;
/** The exchange clock: candle 3400 is forming, 0..3399 are closed. */
const NOW = T0 + 3400 * MIN + 30_000;
const CLOSED = 3400;

function minuteCandles(count: number): FakeCandle[] {
  const out: FakeCandle[] = [];
  let price = 40_000;
  for (let i = 0; i < count; i++) {
    const open = price;
    const close = Math.round((open + ((i * 7919) % 23) - 11) * 100) / 100;
    out.push({
      timestamp: T0 + i * MIN,
      open,
      high: Math.round((Math.max(open, close) + 3.25) * 100) / 100,
      low: Math.round((Math.min(open, close) - 2.5) * 100) / 100,
      close,
      volume: Math.round((1 + (i % 17) * 0.37) * 1000) / 1000,
    });
    price = close;
  }
  return out;
}

const CANDLES = minuteCandles(COUNT);
const values = (c: FakeCandle) => [c.timestamp, c.open, c.high, c.low, c.close, c.volume];

let fake: FakeExchange;
let dir: string;
const clients: BinanceClient[] = [];

async function client(overrides: Record<string, unknown> = {}): Promise<BinanceClient> {
  const c = await createCcxtClient(fake, { apiKey: undefined, secret: undefined, ...overrides });
  clients.push(c);
  return c;
}

/** downloadCandles with this suite's market, and retries that wait 1 ms instead of seconds. */
async function download(file: string, extra: Partial<DownloadCandlesOptions> = {}) {
  return downloadCandles({
    exchange: extra.exchange ?? (await client()),
    symbol: 'BTC/USDT',
    timeframe: '1m',
    since: T0,
    file,
    retry: { initialDelayMs: 1, maxDelayMs: 50 },
    ...extra,
  });
}

async function fileCandles(file: string): Promise<number[][]> {
  const { candles } = await loadCandles(file, { symbol: 'BTC/USDT', timeframe: '1m' });
  return candles.map((c) => [c.timestamp, c.open, c.high, c.low, c.close, c.volume]);
}

/** The reference: a one-shot, fault-free download of the same market. */
async function oneShot(): Promise<string> {
  const file = path.join(dir, 'one-shot.csv');
  await download(file);
  return readFile(file, 'utf8');
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'qf-download-'));
  fake = await startFakeExchange();
  fake.setCandles('BTC/USDT', CANDLES, '1m');
  fake.setNow(NOW);
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

describe('downloadCandles', () => {
  it('paginates (> 3 pages): each request starts after the last candle, every closed candle exactly once', {
    timeout: 20_000,
  }, async () => {
    const file = path.join(dir, 'btc.csv');
    const result = await download(file);
    expect(result).toMatchObject({ written: CLOSED, pages: 4, retries: 0, complete: true, now: NOW });
    const klines = fake.requests({ endpoint: 'klines' });
    expect(klines.map((r) => Number(r.query.startTime))).toEqual([
      T0,
      T0 + 1000 * MIN,
      T0 + 2000 * MIN,
      T0 + 3000 * MIN,
    ]);
    expect(klines.every((r) => r.query.limit === '1000')).toBe(true);
    expect(await fileCandles(file)).toEqual(CANDLES.slice(0, CLOSED).map(values));

    // smaller pages: more requests, same file
    const small = path.join(dir, 'small.csv');
    fake.clearRequests();
    const r2 = await download(small, { pageSize: 700 });
    expect(r2.pages).toBe(5);
    expect(fake.requests({ endpoint: 'klines' })).toHaveLength(5);
    expect(await readFile(small, 'utf8')).toBe(await readFile(file, 'utf8'));
  });

  it('never writes the forming candle; it is written with its final values once closed', {
    timeout: 20_000,
  }, async () => {
    const file = path.join(dir, 'btc.csv');
    fake.setNow(T0 + 100 * MIN + 59_999); // candle 100 forming, one ms before its close
    const first = await download(file);
    expect(first.written).toBe(100);
    expect((await fileCandles(file)).at(-1)![0]).toBe(T0 + 99 * MIN);
    // the fake did serve it (as Binance does), the downloader dropped it
    expect(fake.requests({ endpoint: 'klines' })).toHaveLength(1);

    fake.setNow(T0 + 101 * MIN); // candle 100 closes exactly now; 101 opens (forming)
    const second = await download(file);
    expect(second).toMatchObject({ written: 1, resumedAfter: T0 + 99 * MIN, firstWritten: T0 + 100 * MIN });
    expect(await fileCandles(file)).toEqual(CANDLES.slice(0, 101).map(values));

    // nothing closed since: no request for candles at all
    fake.clearRequests();
    const third = await download(file);
    expect(third).toMatchObject({ written: 0, pages: 0, complete: true });
    expect(fake.requests({ endpoint: 'klines' })).toHaveLength(0);
  });

  it('honors --until (exclusive) and a since that is not on a candle boundary', { timeout: 20_000 }, async () => {
    const file = path.join(dir, 'btc.csv');
    const result = await download(file, { since: T0 + 10 * MIN + 1, until: T0 + 1510 * MIN });
    expect(result).toMatchObject({
      written: 1499,
      firstWritten: T0 + 11 * MIN,
      lastWritten: T0 + 1509 * MIN,
      pages: 2,
    });
    expect(fake.requests({ endpoint: 'klines' })[0]!.query.endTime).toBe(String(T0 + 1510 * MIN - 1));
    expect(await fileCandles(file)).toEqual(CANDLES.slice(11, 1510).map(values));
  });

  it('resumes an interrupted download: same file as a one-shot download, no request repeated', {
    timeout: 20_000,
  }, async () => {
    const reference = await oneShot();
    const file = path.join(dir, 'btc.csv');
    fake.clearRequests();
    const partial = await download(file, { maxPages: 2 });
    expect(partial).toMatchObject({ written: 2000, pages: 2, complete: false });

    // interrupted again, by the abort signal, after one more page
    const abort = new AbortController();
    const second = await download(file, {
      signal: abort.signal,
      onProgress: (p) => {
        if (p.pages === 1) abort.abort();
      },
    });
    expect(second).toMatchObject({ resumedAfter: T0 + 1999 * MIN, written: 1000, pages: 1, complete: false });

    const rest = await download(file);
    expect(rest).toMatchObject({ resumedAfter: T0 + 2999 * MIN, written: 400, complete: true });
    expect(await readFile(file, 'utf8')).toBe(reference);
    const starts = fake.requests({ endpoint: 'klines' }).map((r) => Number(r.query.startTime));
    expect(starts).toEqual([T0, T0 + 1000 * MIN, T0 + 2000 * MIN, T0 + 3000 * MIN]);
  });

  it('an abort during backoff ends the download quietly, incomplete', { timeout: 10_000 }, async () => {
    const file = path.join(dir, 'btc.csv');
    fake.inject({ kind: 'server-error', endpoint: 'klines', skip: 1, count: Number.POSITIVE_INFINITY });
    const abort = new AbortController();
    const result = await download(file, {
      signal: abort.signal,
      sleep: async () => abort.abort(),
    });
    expect(result).toMatchObject({ written: 1000, pages: 1, retries: 1, complete: false });
    expect(fake.requests({ endpoint: 'klines' })).toHaveLength(2);
  });

  it('cuts off a torn last line left by a kill mid-write, then continues', { timeout: 20_000 }, async () => {
    const reference = await oneShot();
    const file = path.join(dir, 'btc.csv');
    await download(file, { maxPages: 1 });
    await appendFile(file, `${T0 + 1000 * MIN},40012.5,4`); // half a row, no newline
    const result = await download(file);
    expect(result.resumedAfter).toBe(T0 + 999 * MIN);
    expect(await readFile(file, 'utf8')).toBe(reference);
  });

  it('survives 429, timeouts, 5xx, dropped connections and malformed JSON with backoff', {
    timeout: 20_000,
  }, async () => {
    const reference = await oneShot();
    const file = path.join(dir, 'btc.csv');
    fake.clearRequests();
    fake.inject({ kind: 'rate-limit', endpoint: 'klines', retryAfterSeconds: 0, count: 2 });
    // requests 1, 2: 429; 3: page 1; 4..7: page 2 fails four ways; 8: page 2; 9, 10: pages 3, 4
    fake.inject({ kind: 'hang', endpoint: 'klines', skip: 3 });
    fake.inject({ kind: 'server-error', endpoint: 'klines', status: 503, skip: 4 });
    fake.inject({ kind: 'drop-connection', endpoint: 'klines', skip: 5 });
    fake.inject({ kind: 'malformed-json', endpoint: 'klines', skip: 6 });
    const delays: number[] = [];
    const result = await download(file, {
      exchange: await client({ timeout: 400 }),
      retry: { initialDelayMs: 100, maxDelayMs: 1_000 },
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    expect(result).toMatchObject({ written: CLOSED, pages: 4, retries: 6, complete: true });
    expect(await readFile(file, 'utf8')).toBe(reference);
    const klines = fake.requests({ endpoint: 'klines' });
    expect(klines.map((r) => r.fault ?? 'ok')).toEqual([
      'rate-limit',
      'rate-limit',
      'ok',
      'hang',
      'server-error',
      'drop-connection',
      'malformed-json',
      'ok',
      'ok',
      'ok',
    ]);
    // exponential per request: 100, 200 on page 1; 100, 200, 400, 800 on page 2
    expect(delays).toEqual([100, 200, 100, 200, 400, 800]);
  });

  it('waits what Retry-After asks (capped), and gives up after maxRetries with an ExchangeError', {
    timeout: 20_000,
  }, async () => {
    const file = path.join(dir, 'btc.csv');
    fake.inject({ kind: 'rate-limit', endpoint: 'klines', retryAfterSeconds: 3 });
    const delays: number[] = [];
    const sleep = async (ms: number) => {
      delays.push(ms);
    };
    await download(file, { retry: { initialDelayMs: 10, maxDelayMs: 5_000 }, sleep, maxPages: 1 });
    expect(delays).toEqual([3_000]);

    fake.inject({ kind: 'server-error', endpoint: 'klines', count: Number.POSITIVE_INFINITY, skip: 1 });
    const err = await download(file, { retry: { maxRetries: 3, initialDelayMs: 1 }, sleep }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExchangeError);
    expect((err as Error).message).toMatch(
      /fetchOHLCV BTC\/USDT 1m since .* failed \(after 3 retries\): ExchangeNotAvailable/,
    );
    // the pages before the failure are kept; the next run continues after them
    expect((await fileCandles(file)).length).toBe(2000);
    fake.clearFaults();
    expect(await download(file)).toMatchObject({ resumedAfter: T0 + 1999 * MIN, written: 1400, complete: true });
  });

  it("refuses a bad candle with the live feed's checks, naming the exchange, time and field", {
    timeout: 10_000,
  }, async () => {
    const bad = CANDLES.map((c, i) => (i === 50 ? { ...c, high: c.low - 1 } : c));
    fake.setCandles('BTC/USDT', bad, '1m');
    const err = await download(path.join(dir, 'bad.csv')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toMatch(
      /^symbol BTC\/USDT, field 'high': binance candle 2024-01-01T00:50:00\.000Z: high [\d.]+ is below low/,
    );
  });

  it('refuses an unknown symbol or timeframe before fetching candles', { timeout: 10_000 }, async () => {
    const file = path.join(dir, 'x.csv');
    await expect(download(file, { symbol: 'DOGE/USDT' })).rejects.toThrow(/binance has no market 'DOGE\/USDT'/);
    await expect(download(file, { timeframe: '7m' })).rejects.toThrow(/binance has no '7m' candles/);
    expect(fake.requests({ endpoint: 'klines' })).toHaveLength(0);
  });
});

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], cwd: string, onSpawn?: (kill: () => void) => void): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, path.join(ROOT, 'src/cli/main.ts'), ...args], {
      cwd,
      env: { ...process.env, QUANTFLOW_EXCHANGE_URL_OVERRIDE: fake.url, CI: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    onSpawn?.(() => child.kill('SIGKILL'));
  });
}

const ARGS = [
  'download',
  '--exchange',
  'binance',
  '--symbol',
  'BTC/USDT',
  '--timeframe',
  '1m',
  '--since',
  '2024-01-01',
];

describe('quantflow download (child process, real ccxt, fake exchange)', () => {
  it('downloads into .quantflow/data/<exchange>_<BASE-QUOTE>_<tf>.csv, then resumes with nothing to do', {
    timeout: 60_000,
  }, async () => {
    const reference = await oneShot();
    fake.clearRequests();
    const run = await cli(ARGS, dir);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const file = path.join(dir, '.quantflow/data/binance_BTC-USDT_1m.csv');
    expect(run.stdout).toContain(
      `binance BTC/USDT 1m: ${CLOSED} candles appended to .quantflow/data/binance_BTC-USDT_1m.csv`,
    );
    expect(run.stdout).toContain('4 requests, 0 retries');
    expect(await readFile(file, 'utf8')).toBe(reference);
    // no credentials: nothing signed was asked for
    expect(fake.requests().filter((r) => r.query.signature !== undefined)).toEqual([]);

    const again = await cli(ARGS, dir);
    expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
    expect(again.stdout).toContain('0 candles appended');
    expect(again.stdout).toContain('resumed after 2024-01-03T08:39Z');
    expect(fake.requests({ endpoint: 'klines' })).toHaveLength(4);
  });

  it('killed mid-way (SIGKILL), run again: the same file as a one-shot download', { timeout: 60_000 }, async () => {
    const reference = await oneShot();
    const out = path.join(dir, 'killed.csv');
    // slow pages so the kill lands mid-download
    fake.inject({ kind: 'delay', ms: 400, endpoint: 'klines', count: Number.POSITIVE_INFINITY });
    const killed = await cli([...ARGS, '--out', out, '--limit', '250'], dir, (kill) => {
      const poll = setInterval(() => {
        stat(out).then(
          (s) => {
            if (s.size > 30_000) {
              clearInterval(poll);
              kill();
            }
          },
          () => {},
        );
      }, 20);
    });
    expect(killed.code, killed.stderr).toBeNull(); // killed, not finished
    const partialRows = (await readFile(out, 'utf8')).split('\n').length;
    expect(partialRows).toBeGreaterThan(250);
    expect(partialRows).toBeLessThan(CLOSED);
    fake.clearFaults();
    const resumed = await cli([...ARGS, '--out', out, '--limit', '1000'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/resumed after/);
    expect(await readFile(out, 'utf8')).toBe(reference);
  });

  it('survives faults end to end, and fails with one clear line on a bad symbol', { timeout: 60_000 }, async () => {
    const out = path.join(dir, 'faulty.csv');
    fake.inject({ kind: 'rate-limit', endpoint: 'klines', retryAfterSeconds: 0, skip: 1 });
    fake.inject({ kind: 'server-error', endpoint: 'klines', skip: 2 });
    const run = await cli([...ARGS, '--out', out], dir);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`${CLOSED} candles appended`);
    expect(run.stdout).toContain('2 retries');
    expect(run.stderr).toMatch(/transient exchange error, retrying/);
    expect(await fileCandles(out)).toEqual(CANDLES.slice(0, CLOSED).map(values));

    const bad = await cli(
      ['download', '--exchange', 'binance', '--symbol', 'NOPE/USDT', '--timeframe', '1m', '--since', '2024-01-01'],
      dir,
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe("error: field 'symbol': binance has no market 'NOPE/USDT'");
    const badDate = await cli([...ARGS.slice(0, -1), 'yesterday'], dir);
    expect(badDate.code).toBe(1);
    expect(badDate.stderr).toContain('--since expects a date like 2024-01-01');
  });
});
