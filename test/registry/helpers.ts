/** Builders shared by the registry tests: fake model directories (the registry never parses weights). */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelMeta } from '../../src/models/model-meta.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A 32-byte test key, hex. */
export const TEST_KEY = 'a1'.repeat(32);
export const OTHER_KEY = 'b2'.repeat(32);

export function tempDir(prefix = 'qf-registry-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export function fakeMeta(overrides: Partial<ModelMeta> = {}): ModelMeta {
  return {
    formatVersion: 1,
    kind: 'tfjs',
    name: 'test-model',
    createdAt: '2024-01-01T00:00:00.000Z',
    featureSchema: { name: 'relative', version: 1, features: [{ name: 'ret1', warmup: 1, description: 'log return' }] },
    lookback: 1,
    inputWidth: 1,
    scaler: 'zscore',
    label: { kind: 'direction', horizon: 1, threshold: 0 },
    training: {
      symbol: 'BTC/USDT',
      timeframe: '1h',
      from: 0,
      to: 3_600_000,
      trainRows: 1000,
      dataHash: '0'.repeat(64),
      seed: 42,
      options: {},
    },
    validation: {
      rows: 200,
      accuracy: 0.55,
      rocAuc: 0.57,
      brier: 0.24,
      logLoss: 0.68,
      majorityBaseline: 0.5,
      alwaysUpBaseline: 0.51,
    },
    versions: { quantflow: '0.1.0' },
    ...(overrides.kind === 'python' ? { python: { script: 'model.py', scriptSha256: 'c'.repeat(64) } } : {}),
    ...overrides,
  };
}

/** A model as files in memory: meta.json + weights.bin of random bytes. */
export function fakeModelFiles(weightBytes = 4096, meta: Partial<ModelMeta> = {}): Map<string, Uint8Array> {
  return new Map<string, Uint8Array>([
    ['meta.json', new TextEncoder().encode(JSON.stringify(fakeMeta(meta), null, 2))],
    ['weights.bin', randomBytes(weightBytes)],
  ]);
}

/** Writes a fake model directory and returns its path. */
export function fakeModelDir(parent: string, name: string, weightBytes = 4096, meta: Partial<ModelMeta> = {}): string {
  const dir = path.join(parent, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, data] of fakeModelFiles(weightBytes, meta)) writeFileSync(path.join(dir, file), data);
  return dir;
}

export function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a !== undefined && b !== undefined && Buffer.from(a).equals(Buffer.from(b));
}
