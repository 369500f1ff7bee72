import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/core/errors.js';
import { PredictionTracker, type PredictionTrackerOptions } from '../../src/tracking/prediction-tracker.js';
import { seededRandom } from '../helpers/random-walk-candles.js';
import { at, candle, tempFile } from './helpers.js';

const OPTIONS: PredictionTrackerOptions = { drift: { window: 10, minAccuracy: 0.5 } };
const SYMBOLS = ['A', 'B'] as const;

/** Closes of a random walk rounded to whole units, so some outcomes come out flat. */
function closes(seed: number, n: number): number[] {
  const rnd = seededRandom(seed);
  const out: number[] = [];
  let price = 100;
  for (let i = 0; i < n; i++) {
    price = Math.max(1, price + Math.round((rnd() - 0.5) * 4));
    out.push(price);
  }
  return out;
}
const PRICES = { A: closes(1, 60), B: closes(2, 60) };

/** Steps [from, to) of a session: candles, predictions of three models, explicit outcomes. */
function play(t: PredictionTracker, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const rnd = seededRandom(1000 + i); // per step, so a session split in two plays the same as one
    for (const s of SYMBOLS) {
      const close = PRICES[s][i]!;
      t.onCandle(candle(s, i, close));
      t.record({ symbol: s, modelVersion: 'v1', timestamp: at(i), prediction: rnd(), horizon: 2, price: close });
      if (s === 'A') {
        t.record({ symbol: s, modelVersion: 'v2', timestamp: at(i), prediction: rnd(), horizon: 3, price: close });
      }
    }
    if (i % 5 === 0) t.recordOutcome({ symbol: 'A', modelVersion: 'ext', timestamp: at(i), prediction: rnd() }, 1);
    if (i % 7 === 0) t.resolve({ symbol: 'A', modelVersion: 'v2', timestamp: at(i) }, 0);
  }
}

function snapshot(t: PredictionTracker) {
  const predictions = [];
  for (let id = 1; id <= t.size; id++) predictions.push(t.get(id));
  return {
    all: t.stats(),
    window: t.stats({ window: 15 }),
    bySymbol: t.statsBy('symbol'),
    byModel: t.statsBy('modelVersion'),
    drift: t.driftStatus(),
    predictions,
  };
}

describe('PredictionTracker persistence', () => {
  it('reloads its history on restart: stats equal, pending ones resolve after it', () => {
    const file = tempFile();
    const first = PredictionTracker.open(file, OPTIONS);
    play(first, 0, 20);
    const before = snapshot(first);
    expect(before.all.pending).toBeGreaterThan(0);
    first.close();

    const second = PredictionTracker.open(file, OPTIONS);
    expect(snapshot(second)).toEqual(before);
    expect(second.loadReport).toMatchObject({ tornLines: 0, repairedOutcomes: 0, predictions: first.size });

    // the source replays a few already-seen candles on start-up, then goes on
    for (let i = 15; i < 20; i++) for (const s of SYMBOLS) expect(second.onCandle(candle(s, i, 1))).toEqual([]);
    play(second, 20, 40);

    const control = new PredictionTracker(OPTIONS);
    play(control, 0, 40);
    expect(snapshot(second)).toEqual(snapshot(control));
    second.close();

    // and once more, with everything from both sessions
    const third = PredictionTracker.open(file, OPTIONS);
    expect(snapshot(third)).toEqual(snapshot(control));
    third.close();
  });

  it('continues ids after a restart and resolves a pending prediction on the right candle', () => {
    const file = tempFile();
    const a = PredictionTracker.open(file);
    a.onCandle(candle('X', 0, 100));
    const p = a.record({ symbol: 'X', modelVersion: 'v', timestamp: at(0), prediction: 0.9, horizon: 3, price: 100 });
    a.onCandle(candle('X', 1, 50)); // step 1 before the crash
    a.close();

    const b = PredictionTracker.open(file);
    expect(b.get(p.id)?.outcome).toBeNull();
    expect(b.onCandle(candle('X', 2, 50))).toEqual([]); // step 2
    const q = b.record({ symbol: 'X', modelVersion: 'v', timestamp: at(2), prediction: 0.1, horizon: 1, price: 50 });
    expect(q.id).toBe(p.id + 1);
    const resolved = b.onCandle(candle('X', 3, 101)); // step 3 for p, step 1 for q
    expect(resolved.map((r) => [r.id, r.outcome])).toEqual([
      [p.id, 1],
      [q.id, 1],
    ]);
    b.close();
  });

  it('writes one line per event', () => {
    const file = tempFile();
    const t = PredictionTracker.open(file);
    t.onCandle(candle('X', 0, 100)); // nothing pending: no line
    t.record({ symbol: 'X', modelVersion: 'v', timestamp: at(0), prediction: 0.9, horizon: 1, price: 100 });
    t.onCandle(candle('X', 1, 101));
    t.close();
    const lines = readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.type)).toEqual(['prediction', 'outcome', 'candle']);
    expect(lines[1]).toMatchObject({ id: lines[0].id, outcome: 1, source: 'candle', resolvedAt: at(1) });
  });

  it('tolerates a torn last line, counts it and cuts it from the file', () => {
    const file = tempFile();
    const a = PredictionTracker.open(file);
    play(a, 0, 8);
    const before = snapshot(a);
    a.close();
    const intact = readFileSync(file, 'utf8');
    appendFileSync(file, '{"type":"outcome","id":3,"outc');

    const b = PredictionTracker.open(file);
    expect(b.loadReport.tornLines).toBe(1);
    expect(snapshot(b)).toEqual(before);
    expect(readFileSync(file, 'utf8')).toBe(intact);
    play(b, 8, 12);
    const after = snapshot(b);
    b.close();

    const c = PredictionTracker.open(file);
    expect(c.loadReport.tornLines).toBe(0);
    expect(snapshot(c)).toEqual(after);
    c.close();
  });

  it('keeps a complete last line that lost only its newline', () => {
    const file = tempFile();
    const a = PredictionTracker.open(file);
    a.recordOutcome({ symbol: 'X', modelVersion: 'v', timestamp: 0, prediction: 0.7 }, 1);
    a.close();
    writeFileSync(file, readFileSync(file, 'utf8').trimEnd());

    const b = PredictionTracker.open(file);
    expect(b.loadReport.tornLines).toBe(0);
    b.recordOutcome({ symbol: 'X', modelVersion: 'v', timestamp: 1, prediction: 0.7 }, 0);
    b.close();
    expect(PredictionTracker.open(file).stats()).toMatchObject({ count: 2, accuracy: 0.5 });
  });

  it('reports a malformed middle line as a DataError with file and line number', () => {
    const file = tempFile();
    const a = PredictionTracker.open(file);
    play(a, 0, 3);
    a.close();
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.splice(2, 0, '{"type":"prediction", oops');
    writeFileSync(file, lines.join('\n'));

    const err = captureError(() => PredictionTracker.open(file));
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).where).toMatchObject({ file, line: 3 });
    expect((err as DataError).message).toContain(`${file}:3`);
  });

  it('reports an inconsistent line (outcome of an unknown id) with its line number', () => {
    const file = tempFile();
    writeFileSync(
      file,
      [
        '{"type":"prediction","id":1,"symbol":"X","modelVersion":"v","timestamp":0,"prediction":0.5,"horizon":1,"price":10,"threshold":0.5}',
        '{"type":"outcome","id":7,"outcome":1,"source":"explicit","resolvedAt":null,"closePrice":null}',
        '',
      ].join('\n'),
    );
    expect(() => PredictionTracker.open(file)).toThrow(/:2.*unknown prediction id 7/);
    writeFileSync(file, '{"type":"prediction","id":1,"symbol":"X","modelVersion":"v","timestamp":0}\n');
    expect(() => PredictionTracker.open(file)).toThrow(/:1.*field 'prediction'/);
  });

  it('recomputes an outcome whose line is missing before its candle line', () => {
    const file = tempFile();
    writeFileSync(
      file,
      [
        '{"type":"prediction","id":1,"symbol":"X","modelVersion":"v","timestamp":0,"prediction":0.9,"horizon":1,"price":10,"threshold":0.5}',
        '{"type":"candle","symbol":"X","timestamp":1,"close":12}',
        '',
      ].join('\n'),
    );
    const t = PredictionTracker.open(file);
    expect(t.loadReport.repairedOutcomes).toBe(1);
    expect(t.get(1)).toMatchObject({ outcome: 1, resolvedAt: 1, closePrice: 12 });
    t.close();
    expect(PredictionTracker.open(file).loadReport).toMatchObject({ repairedOutcomes: 0, outcomes: 1 });
  });

  it('refuses writes after close but still answers stats', () => {
    const t = PredictionTracker.open(tempFile());
    t.recordOutcome({ symbol: 'X', modelVersion: 'v', timestamp: 0, prediction: 0.7 }, 1);
    t.close();
    expect(() => t.recordOutcome({ symbol: 'X', modelVersion: 'v', timestamp: 1, prediction: 0.7 }, 1)).toThrow(
      /closed/,
    );
    expect(t.stats().count).toBe(1);
  });
});

function captureError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
