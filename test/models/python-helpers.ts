/** Shared by the python-*.test.ts files: is python3 usable, temp scripts, a minimal python ModelMeta. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from '../../src/core/logger.js';
import type { FeatureSchema } from '../../src/features/feature-schema.js';
import type { ModelMeta } from '../../src/models/model-meta.js';

function importable(code: string): boolean {
  const r = spawnSync('python3', ['-c', code], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0;
}

export const HAS_PYTHON = importable('import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)');
export const HAS_NUMPY = HAS_PYTHON && importable('import numpy');
export const HAS_SKLEARN = HAS_NUMPY && importable('import sklearn');

if (!HAS_PYTHON) {
  console.warn('python tests skipped: python3 (>= 3.8) is not on PATH');
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `quantflow-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeScript(dir: string, name: string, source: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, source);
  return file;
}

/**
 * A model with extra methods for exercising the worker: predict returns
 * clamp(scale * row[0]) once `load({scale})` was called.
 */
export const TEST_MODEL_SOURCE = `
import os, sys, time
from quantflow_worker import serve

class TestModel:
    def __init__(self):
        self.scale = None

    def load(self, weights):
        self.scale = float(weights["scale"])
        self.input_width = int(weights.get("width", 2))

    def predict(self, rows):
        if self.scale is None:
            raise RuntimeError("no weights loaded")
        return [min(1.0, max(0.0, self.scale * row[0])) for row in rows]

    def add(self, a, b):
        return a + b

    def big(self, n):
        return "x" * n

    def sleep(self, seconds):
        time.sleep(seconds)
        return seconds

    def boom(self, message):
        raise ValueError(message)

    def crash(self, code):
        sys.stderr.write("about to crash with %d\\n" % code)
        sys.stderr.flush()
        os._exit(code)

    def noisy(self):
        print("hello from print")
        return "ok"

    def nan(self):
        return float("nan")

if __name__ == "__main__":
    serve(TestModel)
`;

/** Captures log lines for assertions. */
export function memoryLogger(): Logger & { lines: Array<{ level: string; message: string; fields?: unknown }> } {
  const lines: Array<{ level: string; message: string; fields?: unknown }> = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push({ level, message, fields });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function pythonMeta(
  python: { script: string; scriptSha256: string },
  inputWidth: number,
  name = 'py-test',
): ModelMeta {
  return {
    formatVersion: 1,
    kind: 'python',
    name,
    createdAt: '2024-01-01T00:00:00.000Z',
    featureSchema: { name: 'seed', version: 1, features: [] } as unknown as FeatureSchema,
    lookback: 1,
    inputWidth,
    scaler: 'zscore',
    label: { kind: 'direction', horizon: 1, threshold: 0 },
    training: {
      symbol: 'TEST/USDT',
      timeframe: '1h',
      from: 0,
      to: 0,
      trainRows: 0,
      dataHash: '',
      seed: 1,
      options: {},
    },
    versions: {},
    python,
  };
}

/** True while a process with this pid exists (and is not a zombie we could still signal). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Deterministic separable data: label = [w . x + b > 0], LCG-generated features in [-2, 2]. */
export function separableData(rows: number, cols: number, seed = 7): { X: Float32Array; Y: Float32Array } {
  const X = new Float32Array(rows * cols);
  const Y = new Float32Array(rows);
  let s = seed >>> 0 || 1;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  for (let i = 0; i < rows; i++) {
    let z = 0.1;
    for (let j = 0; j < cols; j++) {
      const v = next() * 4 - 2;
      X[i * cols + j] = v;
      z += v * (j % 2 === 0 ? 1.5 : -0.75);
    }
    Y[i] = z > 0 ? 1 : 0;
  }
  return { X, Y };
}
