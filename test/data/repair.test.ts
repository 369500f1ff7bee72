import { describe, expect, it } from 'vitest';
import { describeLoadReport, loadCandles, REPAIR_REASONS, readCandles } from '../../src/data/index.js';
import { HEADER, HOUR, row, T0, tempDir, writeFixture } from './fixtures.js';

const dir = tempDir('qf-repair-');

describe('repair mode', () => {
  const lines = [
    HEADER,
    row(0), // line 2
    row(2), // 3
    row(1), // 4: out of order (moved)
    `${T0 + 3 * HOUR},1,1,1,abc,1`, // 5: non-numeric
    row(3), // 6
    row(3).replace(',103,', ',103.25,'), // 7: duplicate of line 6, different values: dropped
    `${T0 + 4 * HOUR},104,103,102,103.5,1`, // 8: high below max(open, close)
    row(5), // 9
    row(2), // 10: duplicate AND out of order: counted once, as duplicate
    `${T0 + 6 * HOUR},106,107,105,106.5`, // 11: too few columns
    `${T0 + 7 * HOUR},107,108,106,107.5,-3`, // 12: negative volume
    row(8), // 13
    `${T0 + 9 * HOUR},0,108,106,107.5,3`, // 14: zero price
    '', // 15: blank, not a row
    row(0), // 16: duplicate and out of order
  ];

  it('drops bad rows and duplicates, sorts the rest, and counts each action by reason', async () => {
    const file = writeFixture(dir, 'messy_A-B_1h.csv', lines);
    await expect(loadCandles(file)).rejects.toThrow(/messy_A-B_1h\.csv:4, field 'timestamp': out-of-order/);

    const { candles, report } = await loadCandles(file, { repair: true });
    expect(candles.map((c) => (c.timestamp - T0) / HOUR)).toEqual([0, 1, 2, 3, 5, 8]);
    // Keeps the first of equal timestamps (line 6, not line 7).
    expect(candles[3]?.open).toBe(103);
    expect(report.rowsRead).toBe(14);
    expect(report.candlesKept).toBe(6);
    expect(report.repairMode).toBe(true);
    expect(report.repairs).toEqual({
      'column-count': 1,
      empty: 0,
      'non-numeric': 1,
      'not-finite': 0,
      'bad-timestamp': 0,
      'non-positive-price': 1,
      'negative-volume': 1,
      'high-below-low': 0,
      'high-below-open-close': 1,
      'low-above-open-close': 0,
      'duplicate-timestamp': 3,
      'out-of-order': 1,
    });
    expect(Object.keys(report.repairs)).toEqual([...REPAIR_REASONS]);
    expect(report.repairExamples[0]).toMatch(/messy_A-B_1h\.csv:5, field 'close': not a number: 'abc'/);
    expect(report.gaps).toMatchObject({ count: 2, missingBars: 3 });

    const text = describeLoadReport(report).join('\n');
    expect(text).toContain('repairs: 1 column-count, 1 non-numeric, 1 non-positive-price, 1 negative-volume');
    expect(text).toContain('3 duplicate-timestamp, 1 out-of-order');
  });

  it('the streaming reader repairs the same way', async () => {
    const file = writeFixture(dir, 'messy2_A-B_1h.csv', lines);
    const seen: number[] = [];
    const gen = readCandles(file, { repair: true });
    let step = await gen.next();
    while (step.done !== true) {
      seen.push((step.value.timestamp - T0) / HOUR);
      step = await gen.next();
    }
    expect(seen).toEqual([0, 1, 2, 3, 5, 8]);
    expect(step.value.repairs['duplicate-timestamp']).toBe(3);
  });

  it('a clean file reports no repairs', async () => {
    const file = writeFixture(dir, 'clean_A-B_1h.csv', [HEADER, row(0), row(1), row(2)]);
    const { report } = await loadCandles(file, { repair: true });
    expect(Object.values(report.repairs).every((n) => n === 0)).toBe(true);
    expect(report.candlesKept).toBe(3);
  });

  it('strict mode reports zero repairs', async () => {
    const file = writeFixture(dir, 'strict_A-B_1h.csv', [HEADER, row(0), row(1)]);
    const { report } = await loadCandles(file);
    expect(report.repairMode).toBe(false);
    expect(Object.values(report.repairs).every((n) => n === 0)).toBe(true);
  });
});
