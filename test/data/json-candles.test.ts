import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/core/errors.js';
import { loadCandles, readCandles } from '../../src/data/index.js';
import { JsonRowReader } from '../../src/data/json-rows.js';
import type { RowSink } from '../../src/data/row-sink.js';
import { HOUR, rowError, T0, tempDir, writeFixture } from './fixtures.js';

const dir = tempDir('qf-json-');

const rows = [
  [T0, 100, 101.5, 99, 100.5, 10],
  [T0 + HOUR, 101, 102.5, 100, 101.5, 11],
  [T0 + 2 * HOUR, 102, 103.5, 101, 102.5, 12],
];

describe('ccxt OHLCV JSON', () => {
  it('loads [[ts, o, h, l, c, v], ...] written on one line', async () => {
    const file = writeFixture(dir, 'binance_BTC-USDT_1h.json', JSON.stringify(rows));
    const { candles, report } = await loadCandles(file);
    expect(report.format).toBe('json');
    expect(candles.map((c) => [c.timestamp, c.open, c.high, c.low, c.close, c.volume])).toEqual(rows);
    expect(candles[0]).toMatchObject({ symbol: 'BTC/USDT', timeframe: '1h' });
  });

  it('loads pretty-printed JSON and sniffs JSON in a file without a known extension', async () => {
    const file = writeFixture(dir, 'candles.dat', JSON.stringify(rows, null, 2));
    const { candles } = await loadCandles(file, { timeframe: '1h', symbol: 'A/B' });
    expect(candles).toHaveLength(3);
    let n = 0;
    for await (const c of readCandles(file, { timeframe: '1h' })) expect(c.timestamp).toBe(rows[n++]?.[0]);
    expect(n).toBe(3);
  });

  it('accepts numeric strings, ISO timestamps and an empty array', async () => {
    const file = writeFixture(dir, 'strings_A-B_1d.json', '[["2020-01-01","1","2","0.5","1.5","3"]]');
    expect((await loadCandles(file)).candles[0]).toMatchObject({ timestamp: T0, open: 1, volume: 3 });
    const empty = writeFixture(dir, 'empty_A-B_1d.json', ' [ ] ');
    expect((await loadCandles(empty)).candles).toEqual([]);
  });

  it('names line, row index and field of a bad row', async () => {
    const text = `[\n  [${rows[0]?.join(',')}],\n  [${T0 + HOUR},101,102.5,100,null,11],\n  [${rows[2]?.join(',')}]\n]`;
    const file = writeFixture(dir, 'bad_A-B_1h.json', text);
    const err = await rowError(loadCandles(file));
    expect(err.reason).toBe('empty');
    expect(err.where).toEqual({ file, line: 3, index: 1, field: 'close' });

    const short = writeFixture(dir, 'short_A-B_1h.json', `[[${T0},1,2,0.5,1.5]]`);
    const shortErr = await rowError(loadCandles(short));
    expect(shortErr.reason).toBe('column-count');
    expect(shortErr.message).toMatch(/expected 6 columns, found 5 \(missing 'volume'\)/);

    const order = writeFixture(dir, 'order_A-B_1h.json', JSON.stringify([rows[1], rows[0]]));
    expect((await rowError(loadCandles(order))).reason).toBe('out-of-order');
    const repaired = await loadCandles(order, { repair: true });
    expect(repaired.candles.map((c) => c.timestamp)).toEqual([T0, T0 + HOUR]);
    expect(repaired.report.repairs['out-of-order']).toBe(1);
  });

  it('rejects other JSON shapes and truncated files with a DataError naming the line', async () => {
    const shapes: [string, RegExp][] = [
      ['{"a": 1}', /:1, index 0: expected a JSON array/],
      ['[{"t": 1}]', /expected a \[timestamp, open, high, low, close, volume\] array/],
      ['[[[1,2]]]', /must be a flat array/],
      [`[\n[${rows[0]?.join(',')}]\n`, /:3, index 1: the file ends inside the JSON array/],
      [`[[${rows[0]?.join(',')}]] x`, /unexpected text after the closing \]/],
      ['', /empty file/],
    ];
    for (const [k, [text, message]] of shapes.entries()) {
      const file = writeFixture(dir, `shape-${k}_A-B_1h.json`, text);
      const err = await loadCandles(file).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataError);
      expect((err as Error).message).toMatch(message);
    }
  });

  it('gives the same rows however the text is cut into chunks', () => {
    const text = `[\n [${T0}, 1.5e2, "2", 0.5, 1.25, null],\n[${T0 + HOUR},1,2,0.5,1.5,3]]`;
    const collect = (chunks: string[]) => {
      const out: string[] = [];
      const sink: RowSink = {
        columns() {},
        row(tokens, count, line, index) {
          out.push(`${line}:${index}:${count}:${tokens.join('|')}`);
        },
      };
      const reader = new JsonRowReader('x.json', sink);
      for (const chunk of chunks) reader.push(chunk);
      reader.end();
      return out;
    };
    const whole = collect([text]);
    expect(whole).toEqual([`2:0:6:${T0}|1.5e2|2|0.5|1.25|`, `3:1:6:${T0 + HOUR}|1|2|0.5|1.5|3`]);
    for (let cut = 0; cut <= text.length; cut++) {
      expect(collect([text.slice(0, cut), text.slice(cut)])).toEqual(whole);
    }
    expect(collect(text.split(''))).toEqual(whole);
  });
});
