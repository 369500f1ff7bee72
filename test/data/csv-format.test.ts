import { describe, expect, it } from 'vitest';
import type { Candle } from '../../src/core/types.js';
import { CsvRowReader } from '../../src/data/csv-rows.js';
import { loadCandles, parseCandleFileName, parseIsoUtc } from '../../src/data/index.js';
import type { RowSink } from '../../src/data/row-sink.js';
import { HEADER, HOUR, row, rowError, T0, tempDir, writeFixture } from './fixtures.js';

const dir = tempDir('qf-csv-');

function ohlcv(c: Candle): number[] {
  return [c.timestamp, c.open, c.high, c.low, c.close, c.volume];
}

describe('CSV header and layout', () => {
  it('matches header names case-insensitively, in any order, ignoring extra columns', async () => {
    const file = writeFixture(dir, 'shuffled_A-B_1h.csv', [
      'Volume,Close,note,LOW,High,Open,TIMESTAMP',
      `10,100.5,first,99,101.5,100,${T0}`,
      `11,101.5,second,100,102.5,101,${T0 + HOUR}`,
    ]);
    const { candles } = await loadCandles(file);
    expect(candles.map(ohlcv)).toEqual([
      [T0, 100, 101.5, 99, 100.5, 10],
      [T0 + HOUR, 101, 102.5, 100, 101.5, 11],
    ]);
  });

  it('accepts date and time as names of the timestamp column', async () => {
    for (const name of ['date', 'Time', 'datetime']) {
      const file = writeFixture(dir, `alias-${name}_A-B_1d.csv`, [
        `${name},open,high,low,close,volume`,
        '2020-01-01,1,2,0.5,1.5,3',
        '2020-01-02,1.5,2,1,1.75,4',
      ]);
      const { candles } = await loadCandles(file);
      expect(candles.map((c) => c.timestamp)).toEqual([Date.UTC(2020, 0, 1), Date.UTC(2020, 0, 2)]);
    }
  });

  it('handles CRLF, a BOM, blank lines, quoted fields, no final newline and ; delimiters', async () => {
    const crlf = writeFixture(dir, 'crlf_A-B_1h.csv', `\uFEFF${HEADER}\r\n${row(0)}\r\n\r\n${row(1)}\r\n`);
    expect((await loadCandles(crlf)).candles.map(ohlcv)).toEqual([
      [T0, 100, 101.5, 99, 100.5, 10],
      [T0 + HOUR, 101, 102.5, 100, 101.5, 11],
    ]);
    const quoted = writeFixture(
      dir,
      'quoted_A-B_1h.csv',
      `"timestamp","open","high","low","close","volume"\n"${T0}","1","2","0.5","1.5","3"`,
    );
    expect((await loadCandles(quoted)).candles.map(ohlcv)).toEqual([[T0, 1, 2, 0.5, 1.5, 3]]);
    const semi = writeFixture(dir, 'semi_A-B_1h.csv', ['timestamp;open;high;low;close;volume', `${T0};1;2;0.5;1.5;3`]);
    expect((await loadCandles(semi)).candles.map(ohlcv)).toEqual([[T0, 1, 2, 0.5, 1.5, 3]]);
  });

  it('reads exponent notation and keeps every decimal exactly', async () => {
    const file = writeFixture(dir, 'exact_A-B_5m.csv', [
      HEADER,
      `${T0},0.04100025,0.04104949,0.04088000000000001,0.04089,1825.39285708`,
      `${T0 + 300_000},5.3e-7,6e-7,5e-7,5.5e-7,1e3`,
    ]);
    const { candles } = await loadCandles(file);
    expect(candles.map(ohlcv)).toEqual([
      [T0, 0.04100025, 0.04104949, 0.04088000000000001, 0.04089, 1825.39285708],
      [T0 + 300_000, 5.3e-7, 6e-7, 5e-7, 5.5e-7, 1000],
    ]);
  });

  it('gives the same rows however the text is cut into chunks', () => {
    const text = `${HEADER}\r\n${row(0)}\n\n${row(1)}\r\n${row(2)}`;
    const collect = (chunks: string[]) => {
      const rows: string[] = [];
      const sink: RowSink = {
        columns() {},
        row(tokens, count, line) {
          rows.push(`${line}:${count}:${tokens.join('|')}`);
        },
      };
      const reader = new CsvRowReader('x.csv', sink);
      for (const chunk of chunks) reader.push(chunk);
      reader.end();
      return rows;
    };
    const whole = collect([text]);
    expect(whole).toHaveLength(3);
    expect(whole[2]).toBe(`5:6:${row(2).split(',').join('|')}`);
    for (let cut = 0; cut <= text.length; cut++) {
      expect(collect([text.slice(0, cut), text.slice(cut)])).toEqual(whole);
    }
  });
});

describe('timestamps', () => {
  const expected = [Date.UTC(2020, 0, 1), Date.UTC(2020, 0, 1, 1), Date.UTC(2020, 0, 1, 2)];

  it('ISO dates and datetimes, without a zone, are UTC', async () => {
    const forms = [
      ['2020-01-01T00:00:00Z', '2020-01-01T01:00:00Z', '2020-01-01T02:00:00Z'],
      ['2020-01-01 00:00:00', '2020-01-01 01:00:00', '2020-01-01 02:00:00'],
      ['2020-01-01T00:00', '2020-01-01T01:00:00.000', '2020-01-01T03:00:00+01:00'],
    ];
    for (const [k, form] of forms.entries()) {
      const file = writeFixture(dir, `iso-${k}_A-B_1h.csv`, [
        HEADER,
        ...form.map((ts, i) => `${ts},${100 + i},${101 + i},${99 + i},${100 + i},1`),
      ]);
      const { candles, report } = await loadCandles(file);
      expect(candles.map((c) => c.timestamp)).toEqual(expected);
      expect(report.timestampFormat).toBe('iso');
    }
    const daily = writeFixture(dir, 'iso-date_A-B_1d.csv', [HEADER, '2020-01-01,1,2,1,2,1', '2020-01-02,2,3,2,3,1']);
    expect((await loadCandles(daily)).candles.map((c) => c.timestamp)).toEqual([
      Date.UTC(2020, 0, 1),
      Date.UTC(2020, 0, 2),
    ]);
  });

  it('parseIsoUtc rejects impossible dates and accepts zones', () => {
    expect(parseIsoUtc('2020-02-29')).toBe(Date.UTC(2020, 1, 29));
    expect(parseIsoUtc('2021-02-29')).toBeNaN();
    expect(parseIsoUtc('2020-13-01')).toBeNaN();
    expect(parseIsoUtc('2020-01-01T24:00')).toBeNaN();
    expect(parseIsoUtc('2020-01-01T05:30:00+0530')).toBe(Date.UTC(2020, 0, 1));
    expect(parseIsoUtc('2020-01-01T00:00:00.5Z')).toBe(Date.UTC(2020, 0, 1) + 500);
    expect(parseIsoUtc('01/02/2020')).toBeNaN();
  });

  it('converts 10-digit seconds to milliseconds and says so in the report', async () => {
    const s0 = T0 / 1000;
    const file = writeFixture(dir, 'seconds_A-B_1h.csv', [HEADER, `${s0},1,2,1,2,1`, `${s0 + 3600},2,3,2,3,1`]);
    const { candles, report } = await loadCandles(file);
    expect(candles.map((c) => c.timestamp)).toEqual([T0, T0 + HOUR]);
    expect(report.timestampFormat).toBe('s');
    expect(report.notes.join('\n')).toMatch(/seconds since the epoch; converted to milliseconds/);
  });

  it('a file that switches between seconds and milliseconds is an error on the switching row', async () => {
    const s0 = T0 / 1000;
    const file = writeFixture(dir, 'mixed_A-B_1h.csv', [HEADER, `${s0},1,2,1,2,1`, `${T0 + HOUR},2,3,2,3,1`]);
    const err = await rowError(loadCandles(file));
    expect(err.reason).toBe('bad-timestamp');
    expect(err.where).toEqual({ file, line: 3, field: 'timestamp' });
    expect(err.message).toMatch(/looks like milliseconds, but earlier timestamps were seconds/);
  });

  it('timestampUnit forces the unit', async () => {
    const file = writeFixture(dir, 'early_A-B_1h.csv', [HEADER, '3600000,1,2,1,2,1', '7200000,2,3,2,3,1']);
    expect((await loadCandles(file)).candles[0]?.timestamp).toBe(3_600_000_000);
    expect((await loadCandles(file, { timestampUnit: 'ms' })).candles[0]?.timestamp).toBe(3_600_000);
  });
});

describe('symbol and timeframe', () => {
  it('reads them from the file name', () => {
    expect(parseCandleFileName('/x/binance_BTC-USDT_1h.csv')).toEqual({
      baseName: 'binance_BTC-USDT_1h',
      symbol: 'BTC/USDT',
      timeframe: '1h',
    });
    expect(parseCandleFileName('yahoo_GOOG_1d.csv')).toMatchObject({ symbol: 'GOOG', timeframe: '1d' });
    expect(parseCandleFileName('index_BTC-USD_1M.csv')).toMatchObject({ symbol: 'BTC/USD', timeframe: '1M' });
    expect(parseCandleFileName('BTC_USDT-15m.json')).toMatchObject({ symbol: 'BTC/USDT', timeframe: '15m' });
    expect(parseCandleFileName('prices.csv')).toEqual({ baseName: 'prices' });
  });

  it('options override the file name; the base name is the last resort for the symbol', async () => {
    const file = writeFixture(dir, 'binance_ETH-USDT_1h.csv', [HEADER, row(0), row(1)]);
    const named = await loadCandles(file);
    expect([named.report.symbol, named.report.timeframe, named.report.timeframeSource]).toEqual([
      'ETH/USDT',
      '1h',
      'file-name',
    ]);
    expect(named.candles[0]).toMatchObject({ symbol: 'ETH/USDT', timeframe: '1h' });
    const forced = await loadCandles(file, { symbol: 'X/Y', timeframe: '30m' });
    expect(forced.candles[1]).toMatchObject({ symbol: 'X/Y', timeframe: '30m' });
    expect(forced.report.gaps.count).toBe(1);

    const plain = writeFixture(dir, 'prices.csv', [HEADER, row(0), row(1), row(2), row(4)]);
    const inferred = await loadCandles(plain);
    expect(inferred.report).toMatchObject({ symbol: 'prices', symbolSource: 'base-name', timeframe: '1h' });
    expect(inferred.report.timeframeSource).toBe('inferred');
    expect(inferred.candles.every((c) => c.timeframe === '1h')).toBe(true);
  });

  it('a single candle without any timeframe is a ConfigError; an empty file is fine', async () => {
    const one = writeFixture(dir, 'one.csv', [HEADER, row(0)]);
    await expect(loadCandles(one)).rejects.toThrow(/cannot infer the timeframe/);
    const none = writeFixture(dir, 'none.csv', [HEADER]);
    const { candles, report } = await loadCandles(none);
    expect(candles).toEqual([]);
    expect(report).toMatchObject({ rowsRead: 0, candlesKept: 0, timeframeSource: 'none' });
  });
});
