/**
 * ONNX models behind the `ScaledModel` interface, run by ONNX Runtime in
 * Node (onnx-runtime.ts). A model directory holds `model.onnx`; meta.json's
 * `onnx.output` names the output that is read.
 *
 * What is checked when a model is opened, before it answers anything:
 * - the input: one float32 tensor [N, width] (its columns, when the model
 *   records them under the metadata key `quantflow_columns`, must be the
 *   feature schema's columns in order), or one float32 [N, 1] input per
 *   column, named after the columns;
 * - the output: a float32 tensor, never an integer label output (a
 *   classifier's label encoding is the exporter's business); for the
 *   direction target [N, 2] (class probabilities: column 1 is "up") or
 *   [N, 1] / [N] (the probability of "up"), for return and volatility one
 *   value per row;
 * - a probe: a few rows are run, and a direction model must answer
 *   probabilities (in [0, 1]; two columns summing to 1), otherwise it is
 *   refused. Every later answer is checked again by the predictor.
 */
import path from 'node:path';
import protobuf from 'protobufjs/minimal.js';
import { DataError, ModelError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { lookbackColumnNames } from '../features/dataset.js';
import { featureNames } from '../features/feature-schema.js';
import type { TargetKind } from '../features/targets.js';
import type { ModelFiles } from './model-files.js';
import { META_FILE, type ModelMeta } from './model-meta.js';
import {
  createOnnxSession,
  loadOnnxRuntime,
  type OnnxBackendName,
  type OnnxDevice,
  type OnnxRuntime,
  type OnnxSession,
  type OrtModule,
} from './onnx-runtime.js';
import type { ScaledModel } from './scaled-model.js';

export const ONNX_MODEL_FILE = 'model.onnx';

/** Metadata key holding the input columns, in order, as a JSON list. */
export const ONNX_COLUMNS_KEY = 'quantflow_columns';

/** Rows per `session.run` at most: bounds the memory of huge batches (the wasm heap never shrinks). */
const MAX_RUN_ROWS = 65_536;

export interface OnnxLoadOptions {
  /** Force onnxruntime-node or onnxruntime-web (default: QUANTFLOW_ONNX_BACKEND, else the fastest that loads). */
  readonly backend?: OnnxBackendName;
  /** Default: QUANTFLOW_ONNX_DEVICE, else cpu. */
  readonly device?: OnnxDevice;
  /** Intra-op threads of the native backend (default ONNX Runtime's). */
  readonly threads?: number;
}

/** What a model file says about itself (read from its protobuf, before ONNX Runtime sees it). */
export interface OnnxFileInfo {
  readonly irVersion: number;
  readonly producer: string;
  readonly producerVersion: string;
  /** Operator set versions by domain ('ai.onnx', 'ai.onnx.ml', ...). */
  readonly opsets: Readonly<Record<string, number>>;
  /** metadata_props. */
  readonly props: Readonly<Record<string, string>>;
}

/** The ONNX ModelProto's header fields; ModelError when the bytes are not an ONNX model. */
export function readOnnxInfo(bytes: Uint8Array, file?: string): OnnxFileInfo {
  const where = file !== undefined ? { file } : {};
  const r = protobuf.Reader.create(bytes);
  const info = { irVersion: 0, producer: '', producerVersion: '' };
  const opsets: Record<string, number> = {};
  const props: Record<string, string> = {};
  let graph = false;
  // Reads a length-delimited message of (string 1, string-or-varint 2) pairs.
  const pair = (second: 'string' | 'varint'): [string, string | number] => {
    const end = r.uint32() + r.pos;
    let a = '';
    let b: string | number = second === 'string' ? '' : 0;
    while (r.pos < end) {
      const t = r.uint32();
      if (t === 0x0a) a = r.string();
      else if (t === (second === 'string' ? 0x12 : 0x10)) b = second === 'string' ? r.string() : r.uint32();
      else r.skipType(t & 7);
    }
    return [a, b];
  };
  try {
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag === 0x08) info.irVersion = r.uint32();
      else if (tag === 0x12) info.producer = r.string();
      else if (tag === 0x1a) info.producerVersion = r.string();
      else if (tag === 0x3a) {
        graph = true;
        r.skipType(2);
      } else if (tag === 0x42) {
        const [domain, version] = pair('varint');
        opsets[domain === '' ? 'ai.onnx' : domain] = version as number;
      } else if (tag === 0x72) {
        const [key, value] = pair('string');
        props[key] = value as string;
      } else r.skipType(tag & 7);
    }
  } catch (err) {
    throw new ModelError(`not an ONNX model (${(err as Error).message})`, where, { cause: err });
  }
  if (!graph || info.irVersion === 0) throw new ModelError('not an ONNX model (no ir_version or graph)', where);
  return { ...info, opsets, props };
}

/** What the model must take and give. */
export interface OnnxModelSpec {
  /** The columns of a row, in order (lookbackColumnNames of the schema). */
  readonly columns: readonly string[];
  readonly target: TargetKind;
  /** The output to read (default: the one float32 tensor output, or the one named like 'prob'). */
  readonly output?: string;
}

type Inputs = { readonly kind: 'matrix'; readonly name: string } | { readonly kind: 'columns' };

type ValueMetadata = OnnxSession['inputMetadata'][number];

function describeValue(m: ValueMetadata): string {
  return m.isTensor ? `${m.type} [${m.shape.join(', ')}]` : 'a sequence or map (not a tensor)';
}

export class OnnxScaledModel implements ScaledModel {
  readonly inputWidth: number;
  /** The output read. */
  readonly output: string;
  readonly backend: OnnxBackendName;
  readonly provider: string;
  readonly info: OnnxFileInfo;
  readonly runtime: OnnxRuntime;
  private readonly session: OnnxSession;
  private readonly inputs: Inputs;
  private readonly columns: readonly string[];
  /** Output values per row (2: class probabilities, "up" in column 1). */
  private stride = 1;
  private disposed = false;

  constructor(
    runtime: OnnxRuntime,
    session: OnnxSession,
    provider: string,
    info: OnnxFileInfo,
    layout: { inputs: Inputs; output: string; columns: readonly string[] },
  ) {
    this.runtime = runtime;
    this.session = session;
    this.provider = provider;
    this.info = info;
    this.backend = runtime.backend;
    this.inputs = layout.inputs;
    this.output = layout.output;
    this.columns = layout.columns;
    this.inputWidth = layout.columns.length;
  }

  async predictScaled(rows: Float32Array): Promise<Float32Array> {
    const { raw, n } = await this.runAll(rows);
    if (this.stride === 1) return raw;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = raw[i * 2 + 1]!;
    return out;
  }

  /** The output's values for `rows` (row-major, 1 or 2 per row) and the row count. */
  private async runAll(rows: Float32Array): Promise<{ raw: Float32Array; n: number }> {
    if (this.disposed) throw new ModelError('onnx model was disposed');
    const w = this.inputWidth;
    if (rows.length % w !== 0) {
      throw new DataError(`expected a multiple of ${w} values (rows of ${w}), got ${rows.length}`, { field: 'rows' });
    }
    const n = rows.length / w;
    if (n <= MAX_RUN_ROWS) return { raw: await this.run(rows, n), n };
    const raw = new Float32Array(n * this.stride);
    for (let start = 0; start < n; start += MAX_RUN_ROWS) {
      const end = Math.min(n, start + MAX_RUN_ROWS);
      raw.set(await this.run(rows.subarray(start * w, end * w), end - start), start * this.stride);
    }
    return { raw, n };
  }

  /**
   * Runs probe rows (zeros, every value at +2, every value at -2) and learns
   * the output's width; refuses a direction model whose answers are not
   * probabilities (in [0, 1], two columns summing to 1) and a regression
   * model's non-finite ones.
   */
  async probe(target: TargetKind, where: string | undefined): Promise<void> {
    const w = this.inputWidth;
    const n = 3;
    const rows = new Float32Array(n * w);
    rows.fill(2, w, 2 * w);
    rows.fill(-2, 2 * w);
    const at = { ...(where !== undefined ? { file: where } : {}), field: 'outputs' };
    let out: { data: unknown; dims: readonly number[] } | undefined;
    try {
      out = (await this.session.run(this.feeds(rows, n), [this.output]))[this.output];
    } catch (err) {
      throw new ModelError(`the model fails on ${n} probe rows (${firstLine(err)})`, at, { cause: err });
    }
    const v = out?.data;
    const dims = out?.dims ?? [];
    const cols = dims.length === 1 ? 1 : dims.length === 2 ? dims[1]! : -1;
    if (!(v instanceof Float32Array) || dims[0] !== n || !(cols === 1 || (cols === 2 && target === 'direction'))) {
      throw new ModelError(
        `output '${this.output}' has shape [${dims.join(', ')}] for ${n} rows; expected [${n}]` +
          (target === 'direction'
            ? `, [${n}, 1] (probability of up) or [${n}, 2] (class probabilities)`
            : ` or [${n}, 1]`),
        at,
      );
    }
    const bad = (message: string): never => {
      throw new ModelError(`output '${this.output}' gives ${message}`, at);
    };
    for (let i = 0; i < n; i++) {
      if (target !== 'direction') {
        if (!Number.isFinite(v[i]!)) bad(`${v[i]} for probe row ${i}, not a finite value`);
      } else if (cols === 2) {
        const a = v[2 * i]!;
        const b = v[2 * i + 1]!;
        if (!(a >= 0 && a <= 1 && b >= 0 && b <= 1 && Math.abs(a + b - 1) <= 1e-3)) {
          bad(
            `[${a}, ${b}] for probe row ${i}: not class probabilities (two values in [0, 1] summing to 1); ` +
              'scores and logits are refused: export predict_proba, or end the graph with a softmax',
          );
        }
      } else if (!(v[i]! >= 0 && v[i]! <= 1)) {
        bad(
          `${v[i]} for probe row ${i}: not a probability in [0, 1]; scores and logits are refused: ` +
            'end the graph with a sigmoid',
        );
      }
    }
    this.stride = cols;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.session.release();
  }

  private feeds(rows: Float32Array, n: number): Record<string, InstanceType<OrtModule['Tensor']>> {
    const { Tensor } = this.runtime.ort;
    const w = this.inputWidth;
    if (this.inputs.kind === 'matrix') return { [this.inputs.name]: new Tensor('float32', rows, [n, w]) };
    const feeds: Record<string, InstanceType<OrtModule['Tensor']>> = {};
    for (let j = 0; j < w; j++) {
      const col = new Float32Array(n);
      for (let i = 0; i < n; i++) col[i] = rows[i * w + j]!;
      feeds[this.columns[j]!] = new Tensor('float32', col, [n, 1]);
    }
    return feeds;
  }

  private async run(rows: Float32Array, n: number): Promise<Float32Array> {
    if (n === 0) return new Float32Array(0);
    const data = (await this.session.run(this.feeds(rows, n), [this.output]))[this.output]?.data;
    if (!(data instanceof Float32Array) || data.length !== n * this.stride) {
      throw new ModelError(
        `output '${this.output}' answered ${data instanceof Float32Array ? data.length : 'no float32'} values ` +
          `for ${n} rows (expected ${n * this.stride})`,
      );
    }
    return data;
  }
}

function firstLine(err: unknown): string {
  return ((err as Error).message ?? String(err)).split('\n', 1)[0]!;
}

/** Checks the model's inputs against the columns; how rows are fed. */
function resolveInputs(
  session: OnnxSession,
  spec: OnnxModelSpec,
  info: OnnxFileInfo,
  fail: (m: string) => never,
): Inputs {
  const w = spec.columns.length;
  const inputs = session.inputMetadata;
  if (inputs.length === 1) {
    const m = inputs[0]!;
    if (!m.isTensor || m.type !== 'float32') {
      fail(
        `input '${m.name}' is ${describeValue(m)}; QuantFlow feeds float32 rows [N, ${w}] ` +
          `(export with a float32 input, e.g. FloatTensorType([None, ${w}]))`,
      );
    }
    const dims = m.isTensor ? m.shape : [];
    if (dims.length !== 2 || (typeof dims[1] === 'number' && dims[1] !== w)) {
      fail(
        `input '${m.name}' has shape [${dims.join(', ')}] but the feature schema gives rows of ${w} values [N, ${w}]`,
      );
    }
    const recorded = info.props[ONNX_COLUMNS_KEY];
    if (recorded !== undefined) {
      let names: unknown;
      try {
        names = JSON.parse(recorded);
      } catch {
        fail(`metadata '${ONNX_COLUMNS_KEY}' is not a JSON list of column names`);
      }
      if (!Array.isArray(names) || names.length !== w) {
        fail(
          `metadata '${ONNX_COLUMNS_KEY}' lists ${Array.isArray(names) ? names.length : 'no'} columns; the feature schema has ${w}`,
        );
      }
      const j = spec.columns.findIndex((c, i) => (names as unknown[])[i] !== c);
      if (j >= 0) {
        fail(
          `the model was exported with column ${j} '${String((names as unknown[])[j])}' where the feature schema ` +
            `has '${spec.columns[j]}' (export the features in the order 'quantflow features schema' prints)`,
        );
      }
    }
    return { kind: 'matrix', name: m.name };
  }
  const names = new Set(inputs.map((m) => m.name));
  const missing = spec.columns.filter((c) => !names.has(c));
  const extra = [...names].filter((n) => !spec.columns.includes(n));
  if (missing.length > 0 || extra.length > 0) {
    fail(
      `the model has ${inputs.length} inputs (${[...names].join(', ')}); expected one float32 [N, ${w}] input or ` +
        `one input per column named after it` +
        `${missing.length > 0 ? `; missing ${missing.join(', ')}` : ''}${extra.length > 0 ? `; unknown ${extra.join(', ')}` : ''}`,
    );
  }
  for (const m of inputs) {
    const dims = m.isTensor ? m.shape : [];
    if (!m.isTensor || m.type !== 'float32' || dims.length !== 2 || (typeof dims[1] === 'number' && dims[1] !== 1)) {
      fail(`input '${m.name}' is ${describeValue(m)}; a column input must be float32 [N, 1]`);
    }
  }
  return { kind: 'columns' };
}

/** The output to read: named, or the only float32 tensor (preferring one named like 'prob'). */
function resolveOutput(session: OnnxSession, spec: OnnxModelSpec, fail: (m: string) => never): string {
  const outputs = session.outputMetadata;
  const list = outputs.map((o) => `${o.name}: ${describeValue(o)}`).join('; ');
  const isFloat = (o: ValueMetadata) => o.isTensor && o.type === 'float32';
  if (spec.output !== undefined) {
    const o = outputs.find((x) => x.name === spec.output);
    if (o === undefined) fail(`the model has no output '${spec.output}' (outputs: ${list})`);
    if (!isFloat(o)) {
      fail(
        `output '${o.name}' is ${describeValue(o)}, not float32 ${spec.target === 'direction' ? 'probabilities' : 'values'}`,
      );
    }
    return o.name;
  }
  const floats = outputs.filter(isFloat);
  if (floats.length === 1) return floats[0]!.name;
  if (floats.length === 0) {
    fail(
      `no float32 tensor output to read ${spec.target === 'direction' ? 'probabilities' : 'values'} from (outputs: ${list}). ` +
        'Labels are never read; classifier converters wrap probabilities in a ZipMap unless told not to: ' +
        "export with skl2onnx options={id(model): {'zipmap': False}} or onnxmltools zipmap=False",
    );
  }
  const named = floats.filter((o) => /prob/i.test(o.name));
  if (spec.target === 'direction' && named.length === 1) return named[0]!.name;
  return fail(`several float32 outputs (${list}): name the one to read (models import --output NAME)`);
}

/**
 * Opens ONNX bytes as a ScaledModel after checking its inputs against
 * `spec.columns`, choosing the output and probing it (see the file comment).
 */
export async function openOnnxModel(
  bytes: Uint8Array,
  spec: OnnxModelSpec,
  options: OnnxLoadOptions & { where?: string; logger?: Logger } = {},
): Promise<OnnxScaledModel> {
  const where = options.where;
  const info = readOnnxInfo(bytes, where);
  const runtime = await loadOnnxRuntime({
    ...(options.backend !== undefined ? { prefer: options.backend } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
  });
  const { session, provider } = await createOnnxSession(runtime, bytes, {
    ...(options.device !== undefined ? { device: options.device } : {}),
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(where !== undefined ? { where } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
  });
  try {
    const fail = (message: string): never => {
      throw new ModelError(message, { ...(where !== undefined ? { file: where } : {}), field: 'inputs' });
    };
    const inputs = resolveInputs(session, spec, info, fail);
    const output = resolveOutput(session, spec, (m) => {
      throw new ModelError(m, { ...(where !== undefined ? { file: where } : {}), field: 'outputs' });
    });
    const model = new OnnxScaledModel(runtime, session, provider, info, { inputs, output, columns: spec.columns });
    await model.probe(spec.target, where);
    return model;
  } catch (err) {
    await session.release();
    throw err;
  }
}

/** meta.json's `onnx` field, checked. */
export function onnxOutputOf(meta: ModelMeta, where: string): string {
  const o = (meta as { onnx?: unknown }).onnx;
  const file = path.join(where, META_FILE);
  if (typeof o !== 'object' || o === null || typeof (o as { output?: unknown }).output !== 'string') {
    throw new ModelError(`an ${meta.kind} model needs 'onnx.output', the name of the output to read`, {
      file,
      field: 'onnx.output',
    });
  }
  const output = (o as { output: string }).output;
  if (output === '') throw new ModelError('must not be empty', { file, field: 'onnx.output' });
  return output;
}

/** Loads `model.onnx` of verified model files for the kinds run by ONNX Runtime (onnx, gbdt). */
export function loadOnnxModel(
  files: ModelFiles,
  meta: ModelMeta,
  options: { where: string; onnx?: OnnxLoadOptions; logger?: Logger },
): Promise<OnnxScaledModel> {
  const file = path.join(options.where, ONNX_MODEL_FILE);
  const bytes = files.get(ONNX_MODEL_FILE);
  if (bytes === undefined) return Promise.reject(new ModelError('file is missing', { file }));
  return openOnnxModel(
    bytes,
    {
      columns: lookbackColumnNames(featureNames(meta.featureSchema), meta.lookback),
      target: meta.label.kind,
      output: onnxOutputOf(meta, options.where),
    },
    { ...options.onnx, where: file, ...(options.logger !== undefined ? { logger: options.logger } : {}) },
  );
}
