import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/core/errors.js';
import { CandleRowError, loadCandles, type RepairReason, readCandles } from '../../src/data/index.js';
import { HEADER, HOUR, row, rowError, T0, tempDir, writeFixture } from './fixtures.js';

const dir = tempDir('qf-bad-rows-');

interface Case {
  name: string;
  /** The bad data row, placed as line 4 (after the header and two good rows). */
  bad: string;
  reason: RepairReason;
  field: string;
  message: RegExp;
}

const cases: Case[] = [
  {
    name: 'non-numeric',
    bad: `${T0 + 2 * HOUR},102,abc,101,102.5,12`,
    reason: 'non-numeric',
    field: 'high',
    message: /not a number: 'abc'/,
  },
  {
    name: 'non-numeric timestamp',
    bad: 'yesterday,102,103.5,101,102.5,12',
    reason: 'non-numeric',
    field: 'timestamp',
    message: /not a number: 'yesterday'/,
  },
  {
    name: 'hex literal',
    bad: `${T0 + 2 * HOUR},0x10,103.5,101,102.5,12`,
    reason: 'non-numeric',
    field: 'open',
    message: /not a number: '0x10'/,
  },
  { name: 'empty', bad: `${T0 + 2 * HOUR},102,103.5,101,,12`, reason: 'empty', field: 'close', message: /empty value/ },
  {
    name: 'whitespace only',
    bad: `${T0 + 2 * HOUR},102,103.5,101,102.5,  `,
    reason: 'empty',
    field: 'volume',
    message: /empty value/,
  },
  {
    name: 'NaN',
    bad: `${T0 + 2 * HOUR},102,103.5,NaN,102.5,12`,
    reason: 'not-finite',
    field: 'low',
    message: /'NaN' is not a finite number/,
  },
  {
    name: 'Infinity',
    bad: `${T0 + 2 * HOUR},102,Infinity,101,102.5,12`,
    reason: 'not-finite',
    field: 'high',
    message: /'Infinity' is not a finite number/,
  },
  {
    name: 'overflow',
    bad: `${T0 + 2 * HOUR},102,103.5,101,102.5,1e999`,
    reason: 'not-finite',
    field: 'volume',
    message: /not a finite number/,
  },
  {
    name: 'negative price',
    bad: `${T0 + 2 * HOUR},-102,103.5,101,102.5,12`,
    reason: 'non-positive-price',
    field: 'open',
    message: /open must be > 0, got -102/,
  },
  {
    name: 'zero price',
    bad: `${T0 + 2 * HOUR},102,103.5,101,0,12`,
    reason: 'non-positive-price',
    field: 'close',
    message: /close must be > 0, got 0/,
  },
  {
    name: 'negative volume',
    bad: `${T0 + 2 * HOUR},102,103.5,101,102.5,-1`,
    reason: 'negative-volume',
    field: 'volume',
    message: /volume must be >= 0, got -1/,
  },
  {
    name: 'high < low',
    bad: `${T0 + 2 * HOUR},102,100,103,102.5,12`,
    reason: 'high-below-low',
    field: 'high',
    message: /high 100 is below low 103/,
  },
  {
    name: 'high < max(open, close)',
    bad: `${T0 + 2 * HOUR},102,102.2,101,102.5,12`,
    reason: 'high-below-open-close',
    field: 'high',
    message: /high 102.2 is below max\(open, close\) = 102.5/,
  },
  {
    name: 'low > min(open, close)',
    bad: `${T0 + 2 * HOUR},102,103.5,102.1,102.5,12`,
    reason: 'low-above-open-close',
    field: 'low',
    message: /low 102.1 is above min\(open, close\) = 102/,
  },
  {
    name: 'duplicate timestamp',
    bad: row(1),
    reason: 'duplicate-timestamp',
    field: 'timestamp',
    message: /duplicate timestamp 2020-01-01T01:00:00.000Z \(same as line 3\)/,
  },
  {
    name: 'out of order',
    bad: row(0),
    reason: 'out-of-order',
    field: 'timestamp',
    message: /out-of-order timestamp 2020-01-01T00:00:00.000Z is before 2020-01-01T01:00:00.000Z on line 3/,
  },
  {
    name: 'too few columns',
    bad: `${T0 + 2 * HOUR},102,103.5,101,102.5`,
    reason: 'column-count',
    field: 'volume',
    message: /expected 6 columns, found 5/,
  },
  {
    name: 'too many columns',
    bad: `${T0 + 2 * HOUR},102,103.5,101,102.5,12,7`,
    reason: 'column-count',
    field: 'column 7',
    message: /expected 6 columns, found 7/,
  },
  {
    name: 'bad ISO date',
    bad: '2020-02-30 00:00:00,102,103.5,101,102.5,12',
    reason: 'bad-timestamp',
    field: 'timestamp',
    message: /'2020-02-30 00:00:00' is not a valid ISO date/,
  },
];

describe('each kind of bad row is a DataError naming file, line and field', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const file = writeFixture(dir, `${c.name.replace(/\W+/g, '-')}_A-B_1h.csv`, [
        HEADER,
        row(0),
        row(1),
        c.bad,
        row(3),
      ]);
      const err = await rowError(loadCandles(file));
      expect(err).toBeInstanceOf(DataError);
      expect(err.reason).toBe(c.reason);
      expect(err.where).toEqual({ file, line: 4, field: c.field });
      expect(err.message).toMatch(c.message);
      expect(err.message.startsWith(`${file}:4, field '${c.field}': `)).toBe(true);
    });
  }

  it('counts blank lines in the line number, as an editor does', async () => {
    const file = writeFixture(dir, 'blank-lines.csv', [HEADER, row(0), '', '   ', row(1), `${T0},1,1,1,-1,1`]);
    const err = await rowError(loadCandles(file, { timeframe: '1h' }));
    expect(err.where.line).toBe(6);
  });

  it('the streaming reader throws the same error, after yielding the good rows before it', async () => {
    const file = writeFixture(dir, 'stream_A-B_1h.csv', [HEADER, row(0), row(1), `${T0 + 2 * HOUR},1,1,1,x,1`]);
    const seen: number[] = [];
    await expect(async () => {
      for await (const c of readCandles(file)) seen.push(c.timestamp);
    }).rejects.toThrow(CandleRowError);
    expect(seen).toEqual([T0, T0 + HOUR]);
  });
});

describe('header problems', () => {
  it('missing header: data on line 1', async () => {
    const file = writeFixture(dir, 'no-header.csv', [row(0), row(1)]);
    await expect(loadCandles(file)).rejects.toThrow(/no-header\.csv:1, field 'header': missing header/);
  });

  it('a required column absent from the header', async () => {
    const file = writeFixture(dir, 'no-volume.csv', ['timestamp,open,high,low,close', '1,2,3,1,2']);
    const err = await loadCandles(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).where).toEqual({ file, line: 1, field: 'volume' });
    expect((err as DataError).message).toMatch(/header has no 'volume' column/);
  });

  it('an empty file', async () => {
    const file = writeFixture(dir, 'empty.csv', '');
    await expect(loadCandles(file)).rejects.toThrow(/empty\.csv:1, field 'header': empty file/);
  });

  it('separate date and time columns', async () => {
    const file = writeFixture(dir, 'date-time.csv', ['Date,Time,Open,High,Low,Close,Volume']);
    await expect(loadCandles(file)).rejects.toThrow(/combine them into one 'timestamp' column/);
  });

  it('a missing file', async () => {
    await expect(loadCandles(`${dir}/nope.csv`)).rejects.toThrow(/nope\.csv: file not found/);
  });

  it('a bad timeframe option is a ConfigError before reading', async () => {
    await expect(loadCandles(`${dir}/nope.csv`, { timeframe: '1hour' })).rejects.toThrow(/unknown timeframe '1hour'/);
  });
});
