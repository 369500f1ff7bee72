/**
 * `POST /api/ml/predict` (scope `predict`). Body: `model` (a registry
 * reference; default: the server's default model) and exactly one of
 *
 * - `features`: one row of raw feature values -> `{model, target, prediction,
 *   cached}`, the model's answer in its target's units (P(up), the log
 *   return, the volatility); identical rows are answered from the model's LRU
 *   cache (`cached: true`);
 * - `rows`: a batch -> `{model, target, predictions: [...]}`;
 * - `candles`: raw OHLCV candles (objects or ccxt arrays, oldest first) from
 *   which the model's features are computed -> `{model, target, symbol,
 *   timestamp, prediction, cached, count, tracked}` for the last candle, plus
 *   `series` (`[{timestamp, prediction, ...}]` for every candle after the
 *   warm-up) with `all: true`. Here `prediction` is P(up) for direction and
 *   return models (a return model's `expectedReturn` comes with it) and the
 *   forecast for volatility models; return and volatility answers carry
 *   `forecast: {value, naive}` (the naive forecast: zero, or the EWMA
 *   volatility). `symbol` and `timeframe` default to the model's training
 *   market. Predictions from candles are recorded in the tracker and scored
 *   as later candles arrive.
 *
 * Batches are validated, computed and recorded in slices (slices.ts), so a
 * big batch never holds the event loop for long: /health and small
 * predictions are answered between its slices. Recording in the tracker runs
 * one request at a time (in order), since candles must reach it in order.
 */

import type { FastifyInstance } from 'fastify';
import { DataError, describeError, ModelError } from '../core/errors.js';
import type { Candle } from '../core/types.js';
import { predictionOf } from '../models/prediction-of.js';
import type { ModelRef } from '../registry/registry-layout.js';
import { ApiError } from './api-errors.js';
import { type CandleInputs, candleInputs, parseCandles } from './candle-input.js';
import { checkFeatureRow, rowsToFloat32, wrongWidth } from './feature-rows.js';
import type { ServedModel } from './model-pool.js';
import { DECODED_ROWS, type DecodedRows, MAX_FEATURES } from './rows-decoder.js';
import { predictSchema } from './schemas.js';
import type { ServerContext } from './server-context.js';
import { inSlices, SerialQueue } from './slices.js';

/** Rows per call of the model (about a millisecond of the MLP's forward pass). */
const INFERENCE_SLICE = 512;
/** Candles fed to the tracker per turn of the event loop. */
const TRACKING_SLICE = 256;

/** `rows` (n x width, row-major) through the model in slices. */
async function predictInSlices(model: ServedModel, rows: Float32Array): Promise<Float32Array> {
  const width = model.inputWidth;
  const n = rows.length / width;
  if (n <= INFERENCE_SLICE) return model.predictor.predictBatch(rows);
  const out = new Float32Array(n);
  await inSlices(n, INFERENCE_SLICE, async (from, to) => {
    out.set(await model.predictor.predictBatch(rows.subarray(from * width, to * width)), from);
  });
  return out;
}

export const PREDICT_ROUTE = '/api/ml/predict';

export interface PredictBody {
  readonly model?: string;
  readonly features?: readonly number[];
  readonly rows?: ReadonlyArray<readonly number[]>;
  /** `rows` already decoded off the event loop (big bodies, see rows-decoder.ts). */
  readonly [DECODED_ROWS]?: DecodedRows;
  readonly candles?: readonly unknown[];
  readonly symbol?: string;
  readonly timeframe?: string;
  readonly all?: boolean;
}

/** Names the input field of a batch row (`rows[3]`, `candles[17]`) or of the single input. */
type InputField = string | null | ((row: number) => string);

/**
 * The prediction error as an API error: bad input 400, unusable output 422
 * (e.g. NaN from extreme inputs, naming the row), a failing model 500.
 */
function predictionError(err: unknown, model: ServedModel, field: InputField = null): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof DataError) {
    return new ApiError(400, 'INVALID_INPUT', err.message, err.where.field ?? null, { cause: err });
  }
  if (err instanceof ModelError && err.where.field === 'prediction') {
    const row = err.where.index;
    const name = typeof field === 'function' ? (row === undefined ? null : field(row)) : field;
    return new ApiError(
      422,
      'PREDICTION_INVALID',
      `model ${model.ref} could not score ${name ?? 'this input'}: ${err.message}`,
      name,
      { cause: err },
    );
  }
  return new ApiError(500, 'PREDICTION_FAILED', `model ${model.ref} failed: ${describeError(err)}`, null, {
    cause: err,
  });
}

/**
 * Runs one prediction under the deadline, holding a lease on the model until
 * the work itself settles (even after the deadline), so the model is never
 * disposed under a running prediction.
 */
function run<T>(model: ServedModel, timeoutMs: number, start: () => Promise<T>, field: InputField = null): Promise<T> {
  model.acquire();
  let work: Promise<T>;
  try {
    work = start();
  } catch (err) {
    model.release();
    return Promise.reject(predictionError(err, model, field));
  }
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new ApiError(
          504,
          'PREDICTION_TIMEOUT',
          `model ${model.ref} did not answer within ${timeoutMs} ms (server option predictionTimeoutMs)`,
        ),
      );
    }, timeoutMs);
    work.then(
      (value) => {
        clearTimeout(timer);
        model.release();
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        model.release();
        reject(predictionError(err, model, field));
      },
    );
  });
}

/** Cache counters of a model's predictor, or undefined when it has no cache. */
function cacheCounters(model: ServedModel): { hits: number; misses: number } | undefined {
  const stats = model.predictor.cacheStats?.();
  return stats === undefined || !stats.enabled ? undefined : stats;
}

export function registerPredictRoute(app: FastifyInstance, ctx: ServerContext): void {
  const { pool, metrics, limits } = ctx;
  const tracking = new SerialQueue();

  /** The model for `ref` (or the default model), leased: the caller releases it. */
  function leaseModel(ref: string | undefined): ServedModel | Promise<ServedModel> {
    let parsed: ModelRef;
    if (ref === undefined) {
      if (ctx.defaultModel === null) {
        throw new ApiError(
          400,
          'MODEL_REQUIRED',
          "no default model is configured on this server: name one in 'model'",
          'model',
        );
      }
      parsed = ctx.defaultModel.parsed;
    } else {
      parsed = pool.parseRef(ref);
    }
    return pool.tryLease(parsed) ?? pool.lease(parsed);
  }

  /**
   * One row through `predict` (and so through the model's LRU cache). Whether
   * it was a hit is read from the cache counters around the call: predict()
   * counts the hit or miss before its first await, so no other request can
   * move them in between.
   */
  async function single(
    model: ServedModel,
    row: ArrayLike<number>,
    field: string,
  ): Promise<{ p: number; cached: boolean }> {
    let cached = false;
    const p = await run(
      model,
      limits.predictionTimeoutMs,
      () => {
        const before = cacheCounters(model);
        const work = model.predictor.predict(row);
        if (before !== undefined) {
          const after = cacheCounters(model)!;
          cached = after.hits !== before.hits;
          if (cached || after.misses !== before.misses) metrics.cache(model.ref, cached);
        }
        return work;
      },
      field,
    );
    return { p, cached };
  }

  app.post<{ Body: PredictBody }>(
    PREDICT_ROUTE,
    { schema: predictSchema(limits.maxBatch, MAX_FEATURES), config: { scope: 'predict' } },
    async (request, reply) => {
      const body = request.body;
      checkInputs(body);
      const model = await leaseModel(body.model);
      try {
        if (body.features !== undefined) return reply.send(await fromFeatures(model, body.features));
        const decoded = body[DECODED_ROWS];
        if (decoded !== undefined) return reply.send(await fromRows(model, decodedRows(decoded, model)));
        if (body.rows !== undefined)
          return reply.send(await fromRows(model, rowsToFloat32(body.rows, model.inputWidth, model.ref)));
        return reply.send(await fromCandles(model, body));
      } finally {
        model.release();
      }
    },
  );

  async function fromFeatures(model: ServedModel, features: readonly number[]) {
    checkFeatureRow(features, model.inputWidth, model.ref);
    const { p, cached } = await single(model, features, 'features');
    metrics.predicted(model.ref, 'features', 1);
    return { model: model.ref, target: model.predictor.meta.label.kind, prediction: p, cached };
  }

  async function fromRows(model: ServedModel, x: Float32Array) {
    const out = await run(
      model,
      limits.predictionTimeoutMs,
      () => predictInSlices(model, x),
      (i) => `rows[${i}]`,
    );
    metrics.predicted(model.ref, 'rows', out.length);
    return { model: model.ref, target: model.predictor.meta.label.kind, predictions: Array.from(out) };
  }

  async function fromCandles(model: ServedModel, body: PredictBody) {
    const meta = model.predictor.meta;
    const symbol = body.symbol ?? meta.training.symbol;
    const timeframe = body.timeframe ?? meta.training.timeframe;
    const candles = await parseCandles(body.candles!, symbol, timeframe);
    const all = body.all === true;
    let inputs: CandleInputs;
    try {
      inputs = await candleInputs(candles, meta, all, model.ref);
    } catch (err) {
      throw predictionError(err, model, 'candles');
    }
    let values: ArrayLike<number>;
    let cached = false;
    if (all) {
      const x = Float32Array.from(inputs.rows);
      const out = await run(
        model,
        limits.predictionTimeoutMs,
        () => predictInSlices(model, x),
        (k) => `candles[${inputs.candleIndex[k]}]`,
      );
      values = out;
    } else {
      const r = await single(model, inputs.rows, `candles[${inputs.candleIndex[0]}]`);
      values = [r.p];
      cached = r.cached;
    }
    metrics.predicted(model.ref, 'candles', inputs.count);
    const answers = candleAnswers(model, candles, inputs, values);
    const tracked = await tracking.run(() => track(ctx, model, candles, inputs, answers));
    const last = answers[inputs.count - 1]!;
    const response: Record<string, unknown> = {
      model: model.ref,
      target: meta.label.kind,
      symbol,
      ...last,
      cached,
      count: inputs.count,
      tracked,
    };
    if (all) response.series = answers;
    return response;
  }
}

/** One candle's answer as the API gives it. */
interface CandleAnswer {
  readonly timestamp: number;
  /** P(up), or the volatility forecast of a volatility model. */
  readonly prediction: number;
  readonly expectedReturn?: number;
  readonly forecast?: { readonly value: number; readonly naive: number };
}

/** The model's values (target units) for the candle rows as answers: the same conversion as every other path. */
function candleAnswers(
  model: ServedModel,
  candles: readonly Candle[],
  inputs: CandleInputs,
  values: ArrayLike<number>,
): CandleAnswer[] {
  const { meta, calibration, modelVersion } = model.predictor;
  const root = Math.sqrt(meta.label.horizon);
  const out = new Array<CandleAnswer>(inputs.count);
  for (let k = 0; k < inputs.count; k++) {
    const c = candles[inputs.candleIndex[k]!]!;
    const v = values[k]!;
    const vol = inputs.volatility[k]!;
    if (meta.label.kind === 'volatility') {
      out[k] = { timestamp: c.timestamp, prediction: v, forecast: { value: v, naive: vol * root } };
      continue;
    }
    const p = predictionOf(meta, calibration, c.symbol, v, modelVersion, c.timestamp, vol);
    out[k] = {
      timestamp: c.timestamp,
      prediction: p.prediction,
      ...(p.expectedReturn !== undefined ? { expectedReturn: p.expectedReturn } : {}),
      ...(meta.label.kind === 'return' ? { forecast: { value: v, naive: 0 } } : {}),
    };
  }
  return out;
}

/** A decoded batch as the model's input; the same refusal as rowsToFloat32 when the width is not the model's. */
function decodedRows(rows: DecodedRows, model: ServedModel): Float32Array {
  if (rows.width !== model.inputWidth) throw wrongWidth('rows[0]', rows.width, model.inputWidth, model.ref);
  return rows.data;
}

/** Exactly one of features, rows and candles; symbol, timeframe and all only with candles. */
function checkInputs(body: PredictBody): void {
  const rows = body.rows !== undefined || body[DECODED_ROWS] !== undefined;
  const given = (body.features !== undefined ? 1 : 0) + (rows ? 1 : 0) + (body.candles !== undefined ? 1 : 0);
  if (given !== 1) {
    throw new ApiError(
      400,
      given === 0 ? 'INPUT_REQUIRED' : 'AMBIGUOUS_INPUT',
      'give exactly one of features (one row), rows (a batch) or candles (raw OHLCV)',
      given === 0 ? 'features' : null,
    );
  }
  if (body.candles === undefined) {
    const extra = (['symbol', 'timeframe', 'all'] as const).find((k) => body[k] !== undefined);
    if (extra !== undefined) throw new ApiError(400, 'UNKNOWN_FIELD', `'${extra}' applies only to candles`, extra);
  }
}

/**
 * Feeds the request's candles to the tracker (resolving earlier predictions)
 * and records this request's predictions of candles the tracker had not
 * counted yet, so overlapping windows sent again and again are recorded once.
 * A tracker failure never fails the prediction: it is logged and the count is 0.
 */
async function track(
  ctx: ServerContext,
  model: ServedModel,
  candles: readonly Candle[],
  inputs: CandleInputs,
  answers: readonly CandleAnswer[],
): Promise<number> {
  const { tracker } = ctx;
  const horizon = model.predictor.meta.label.horizon;
  let recorded = 0;
  let k = 0;
  try {
    await inSlices(candles.length, TRACKING_SLICE, (from, to) => {
      for (let i = from; i < to; i++) {
        const candle = candles[i]!;
        const ignoredBefore = tracker.ignoredCandles;
        tracker.onCandle(candle);
        if (tracker.ignoredCandles !== ignoredBefore) continue; // not after the last counted candle
        while (k < inputs.count && inputs.candleIndex[k]! < i) k++;
        if (k >= inputs.count || inputs.candleIndex[k] !== i) continue;
        const key = { symbol: candle.symbol, modelVersion: model.ref, timestamp: candle.timestamp };
        if (tracker.get(key) !== undefined) continue;
        const a = answers[k]!;
        const target = model.predictor.meta.label.kind;
        tracker.record({
          ...key,
          ...(target === 'volatility' ? {} : { prediction: a.prediction }),
          ...(a.forecast !== undefined && target !== 'direction' ? { forecast: { target, ...a.forecast } } : {}),
          horizon,
          price: candle.close,
        });
        recorded++;
      }
    });
  } catch (err) {
    ctx.log.warn({ err: describeError(err), model: model.ref }, 'prediction tracker refused a record');
  }
  return recorded;
}
