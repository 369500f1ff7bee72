/**
 * ONNX models in Node: the runtime choice (onnxruntime-node, else
 * onnxruntime-web on WebAssembly), parity with the producing libraries on
 * both backends (a PyTorch MLP exported with torch.onnx.export, XGBoost and
 * scikit-learn trees exported by QuantFlow's gbdt worker, a graph with one
 * input per column), and the models refused at load with the reason: logits
 * instead of probabilities, a label-only output (ZipMap), the wrong width,
 * columns in another order, a double input, bytes that are not ONNX, CUDA
 * without its provider. Python producers run for real; where their packages
 * are absent those tests skip with the reason.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetCsv } from '../../src/cli/commands/features.js';
import { ConfigError, ModelError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logger.js';
import { FeatureScaler } from '../../src/features/scaler.js';
import { loadModel } from '../../src/models/load-model.js';
import { importOnnxModel } from '../../src/models/onnx-import.js';
import { ONNX_COLUMNS_KEY, openOnnxModel, readOnnxInfo } from '../../src/models/onnx-model.js';
import {
  chooseOnnxBackend,
  classifyNativeImportError,
  loadOnnxRuntime,
  type ModuleImporter,
  type OnnxBackendName,
} from '../../src/models/onnx-runtime.js';
import { gbdtProducer, maxDiff, plantedDataset, pythonWith, runFixture } from './onnx-helpers.js';

const TOL = 1e-5;
const BACKENDS: OnnxBackendName[] = ['node', 'wasm'];
const { candles, ds } = plantedDataset();
const columns = [...ds.featureNames];
const width = ds.cols;
const training = { from: candles[0]!.timestamp, to: candles.at(-1)!.timestamp, rows: ds.rows };

const TORCH = await pythonWith(['numpy', 'onnx', 'torch'], 'PyTorch ONNX tests');
const XGB = await pythonWith(['numpy', 'onnx', 'xgboost'], 'XGBoost ONNX tests');
const SKL = await pythonWith(['numpy', 'onnx', 'sklearn'], 'scikit-learn ONNX tests');
const ONNX = await pythonWith(['numpy', 'onnx'], 'hand-built ONNX graph tests');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'qf-onnx-'));
  if (TORCH !== undefined) {
    writeFileSync(path.join(dir, 'features.csv'), datasetCsv(ds));
    runFixture(TORCH, 'torch_mlp.py', [path.join(dir, 'features.csv'), dir]);
  }
  if (ONNX !== undefined) runFixture(ONNX, 'onnx_graphs.py', [dir, JSON.stringify(columns)]);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string) => readFileSync(path.join(dir, name));
const expected = () => JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8'));

const notFound = Object.assign(new Error("Cannot find package 'onnxruntime-node' imported from /x/onnx-runtime.ts"), {
  code: 'ERR_MODULE_NOT_FOUND',
});
const badAddon = Object.assign(
  new Error('/x/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node: invalid ELF header'),
  { code: 'ERR_DLOPEN_FAILED' },
);
function importer(failures: Record<string, Error>): ModuleImporter {
  return async (specifier) => {
    const failure = failures[specifier];
    if (failure !== undefined) throw failure;
    return import(specifier);
  };
}

describe('ONNX Runtime backend selection', () => {
  it('picks onnxruntime-node here and logs the choice once', async () => {
    const lines: Array<Record<string, unknown> | undefined> = [];
    const logger: Logger = { debug() {}, info: (_m, f) => void lines.push(f), warn() {}, error() {} };
    const a = await loadOnnxRuntime({ logger, env: {} });
    const b = await loadOnnxRuntime({ logger, env: {} });
    expect(b).toBe(a);
    expect(lines).toHaveLength(1);
    expect(a.backend).toBe('node');
    expect(lines[0]).toMatchObject({ backend: 'node', package: 'onnxruntime-node' });
  });

  it('falls back to onnxruntime-web when the native package is absent or its addon does not load', async () => {
    const absent = await chooseOnnxBackend({ env: {}, importer: importer({ 'onnxruntime-node': notFound }) });
    expect(absent.backend).toBe('wasm');
    expect(absent.reason).toBe(
      'onnxruntime-node (native ONNX Runtime) is not installed; onnxruntime-web runs it on WebAssembly',
    );
    const broken = await chooseOnnxBackend({ env: {}, importer: importer({ 'onnxruntime-node': badAddon }) });
    expect(broken.backend).toBe('wasm');
    expect(broken.reason).toMatch(
      /^onnxruntime-node is installed but its native addon cannot be loaded \(.*invalid ELF header\)/,
    );
    expect(classifyNativeImportError(notFound)).toBeUndefined();
  });

  it('honours QUANTFLOW_ONNX_BACKEND and refuses what it cannot do', async () => {
    expect((await chooseOnnxBackend({ env: { QUANTFLOW_ONNX_BACKEND: 'wasm' } })).reason).toBe(
      'requested (QUANTFLOW_ONNX_BACKEND=wasm)',
    );
    await expect(
      chooseOnnxBackend({
        env: { QUANTFLOW_ONNX_BACKEND: 'node' },
        importer: importer({ 'onnxruntime-node': notFound }),
      }),
    ).rejects.toThrow(
      /node backend requested \(QUANTFLOW_ONNX_BACKEND=node\) but onnxruntime-node .* is not installed/,
    );
    await expect(chooseOnnxBackend({ env: { QUANTFLOW_ONNX_BACKEND: 'gpu' } })).rejects.toThrow(
      "QUANTFLOW_ONNX_BACKEND must be one of node, wasm; got 'gpu'",
    );
  });
});

describe.skipIf(TORCH === undefined)('PyTorch MLP exported with torch.onnx.export', () => {
  it.each(BACKENDS)(
    'answers what PyTorch answers, to 1e-5, on %s (label output ignored, scaling in the graph)',
    async (backend) => {
      const imported = await importOnnxModel({
        onnx: file('mlp.onnx'),
        file: path.join(dir, 'mlp.onnx'),
        features: 'relative',
        name: 'torch-mlp',
        training,
        load: { backend },
      });
      expect(imported.output).toBe('probabilities');
      expect(imported.meta.versions.onnxProducer).toMatch(/^pytorch /);
      const predictor = await loadModel(imported.files, { onnx: { backend } });
      try {
        const torch = expected().probabilities as number[];
        const batch = await predictor.predictBatch(ds.features);
        expect(maxDiff(batch, torch)).toBeLessThan(TOL);
        for (const i of [0, 17, ds.rows - 1]) {
          expect(await predictor.predict(ds.features.subarray(i * width, (i + 1) * width))).toBeCloseTo(torch[i]!, 5);
        }
      } finally {
        await predictor.dispose();
      }
    },
  );

  it.each(BACKENDS)(
    'a sigmoid head behind a QuantFlow scaler.json answers what PyTorch answers on %s',
    async (backend) => {
      const { mean, std, sigmoid } = expected() as { mean: number[]; std: number[]; sigmoid: number[] };
      const scaler = { format: 'quantflow-scaler', version: 1, kind: 'zscore', clip: false, clipSigma: 5 };
      const imported = await importOnnxModel({
        onnx: file('sigmoid.onnx'),
        file: path.join(dir, 'sigmoid.onnx'),
        features: 'relative',
        scaler: { ...scaler, featureNames: columns, center: mean, spread: std },
        name: 'torch-sigmoid',
        training,
        load: { backend },
      });
      expect(imported.output).toBe('p_up');
      const predictor = await loadModel(imported.files, { onnx: { backend } });
      try {
        expect(maxDiff(await predictor.predictBatch(ds.features), sigmoid)).toBeLessThan(TOL);
      } finally {
        await predictor.dispose();
      }
    },
  );

  it('refuses logits, a model of the wrong width, and an output that is not there', async () => {
    const open = (name: string, output?: string) =>
      openOnnxModel(file(name), { columns, target: 'direction', ...(output ? { output } : {}) });
    await expect(open('logits.onnx')).rejects.toThrow(
      /output 'logits' gives \[.*\] for probe row \d: not class probabilities .* scores and logits are refused/,
    );
    await expect(open('narrow.onnx')).rejects.toThrow(
      `input 'input' has shape [N, ${width - 1}] but the feature schema gives rows of ${width} values [N, ${width}]`,
    );
    await expect(open('mlp.onnx', 'label')).rejects.toThrow("output 'label' is int64 [N], not float32 probabilities");
    await expect(open('mlp.onnx', 'nope')).rejects.toThrow(
      /the model has no output 'nope' \(outputs: label: int64 \[N\]; probabilities: float32 \[N, 2\]\)/,
    );
  });
});

describe.skipIf(ONNX === undefined)('hand-built graphs in converter layouts', () => {
  it('refuses a ZipMap classifier (label and a sequence of maps: no float tensor to read) naming the fix', async () => {
    const err = await openOnnxModel(file('zipmap.onnx'), { columns, target: 'direction' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect((err as Error).message).toMatch(
      /no float32 tensor output to read probabilities from \(outputs: label: int64 \[N\]; output_probability: a sequence or map \(not a tensor\)\)\. Labels are never read; .*zipmap/,
    );
  });

  it('refuses a double input', async () => {
    await expect(openOnnxModel(file('double.onnx'), { columns, target: 'direction' })).rejects.toThrow(
      `input 'input' is float64 [N, ${width}]; QuantFlow feeds float32 rows`,
    );
  });

  it.each(BACKENDS)('feeds one input per column by name on %s', async (backend) => {
    const model = await openOnnxModel(file('columns.onnx'), { columns, target: 'direction' }, { backend });
    try {
      const rows = ds.features.subarray(0, 50 * width);
      const out = await model.predictScaled(rows);
      const want = Array.from({ length: 50 }, (_, i) => {
        let z = 0;
        for (let j = 0; j < width; j++) z += Math.fround(((j + 1) / (10 * width)) * (-1) ** j) * rows[i * width + j]!;
        return 1 / (1 + Math.exp(-z));
      });
      expect(maxDiff(out, want)).toBeLessThan(TOL);
    } finally {
      await model.dispose();
    }
    await expect(
      openOnnxModel(file('columns.onnx'), {
        columns: columns.map((c) => `${c}_x`),
        target: 'direction',
      }),
    ).rejects.toThrow(
      /expected one float32 \[N, 21\] input or one input per column named after it; missing log_return_1_x/,
    );
  });

  it('refuses bytes that are not ONNX', () => {
    expect(() => readOnnxInfo(new TextEncoder().encode('{"not": "onnx"}'), 'x.onnx')).toThrow(
      /^x\.onnx: not an ONNX model/,
    );
  });
});

describe.skipIf(XGB === undefined && SKL === undefined)('trees exported by the gbdt worker', () => {
  const scaler = new FeatureScaler({ kind: 'zscore', featureNames: columns }).fit(ds.features, width);
  const scaled = scaler.transform(ds.features, new Float32Array(ds.features.length));
  const cases = [
    ...(XGB !== undefined ? [['xgboost', XGB] as const] : []),
    ...(SKL !== undefined ? [['sklearn', SKL] as const] : []),
  ];

  it.each(cases)(
    '%s: the exported graph answers what the library answers, to 1e-5, on node and wasm',
    async (library, py) => {
      const producer = await gbdtProducer(py);
      try {
        for (const target of ['direction', 'return'] as const) {
          const y = target === 'direction' ? ds.labels : Float32Array.from(ds.outcomes);
          const bytes = await producer.fit(scaled, y, width, {
            library,
            target,
            columns,
            trees: 60,
            depth: 4,
            seed: 3,
          });
          const reference = await producer.predict(scaled, width);
          expect(JSON.parse(readOnnxInfo(bytes).props[ONNX_COLUMNS_KEY]!)).toEqual(columns);
          for (const backend of BACKENDS) {
            const model = await openOnnxModel(bytes, { columns, target }, { backend });
            try {
              expect(
                maxDiff(await model.predictScaled(scaled), reference),
                `${library} ${target} ${backend}`,
              ).toBeLessThan(TOL);
            } finally {
              await model.dispose();
            }
          }
        }
        // The same graph fed columns in another order is refused, naming the first difference.
        const bytes = await producer.fit(scaled, ds.labels, width, {
          library,
          columns: [...columns].reverse(),
          trees: 5,
        });
        await expect(openOnnxModel(bytes, { columns, target: 'direction' })).rejects.toThrow(
          "the model was exported with column 0 'month_cos' where the feature schema has 'log_return_1'",
        );
      } finally {
        await producer.close();
      }
    },
  );
});

describe.skipIf(ONNX === undefined)('CUDA (opt-in, not installed here)', () => {
  it('is refused with the install hint, never replaced by the CPU', async () => {
    const bytes = file('columns.onnx');
    const spec = { columns, target: 'direction' as const };
    const err = await openOnnxModel(bytes, spec, { backend: 'node', device: 'cuda' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(
      /cannot start an ONNX Runtime CUDA session \(.*\): the CUDA execution provider is not installed: .*ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node/,
    );
    await expect(openOnnxModel(bytes, spec, { backend: 'wasm', device: 'cuda' })).rejects.toThrow(
      /device cuda needs onnxruntime-node; the wasm backend .* runs on the CPU only/,
    );
  });
});
