/**
 * Checks of feature rows sent to `POST /api/ml/predict`. The request schema
 * has already refused anything that is not a JSON number (null, "NaN",
 * objects); here each row must have the model's input width and every value
 * must fit a float32 (what the models compute in), each refusal naming the
 * field, e.g. `rows[3][7]`.
 */
import { ApiError } from './api-errors.js';

/** Largest finite float32. */
export const FLOAT32_MAX = 3.4028234663852886e38;

function badValue(field: string, value: unknown): ApiError {
  const shown = typeof value === 'number' ? String(value) : JSON.stringify(value);
  return new ApiError(
    400,
    'INVALID_FEATURE_VALUE',
    `${field} is ${shown ?? String(value)}: feature values must be finite numbers within the float32 range`,
    field,
  );
}

export function wrongWidth(field: string, got: number, width: number, modelRef: string): ApiError {
  return new ApiError(
    400,
    'WRONG_FEATURE_COUNT',
    `${field} has ${got} values but model ${modelRef} takes ${width} (features x lookback)`,
    field,
  );
}

/** Throws ApiError unless `row` holds `width` finite float32-range numbers. */
export function checkFeatureRow(row: readonly unknown[], width: number, modelRef: string, field = 'features'): void {
  if (row.length !== width) throw wrongWidth(field, row.length, width, modelRef);
  for (let j = 0; j < width; j++) {
    const v = row[j];
    // NaN fails `<=`; a non-number cannot pass the schema, but is checked for callers without it.
    if (typeof v !== 'number' || !(v <= FLOAT32_MAX && v >= -FLOAT32_MAX)) throw badValue(`${field}[${j}]`, v);
  }
}

/** Rows as one row-major Float32Array (the batch input of a Predictor), checking each as above. */
export function rowsToFloat32(rows: readonly (readonly unknown[])[], width: number, modelRef: string): Float32Array {
  const out = new Float32Array(rows.length * width);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    if (row.length !== width) throw wrongWidth(`rows[${i}]`, row.length, width, modelRef);
    const base = i * width;
    for (let j = 0; j < width; j++) {
      const v = row[j];
      if (typeof v !== 'number' || !(v <= FLOAT32_MAX && v >= -FLOAT32_MAX)) throw badValue(`rows[${i}][${j}]`, v);
      out[base + j] = v;
    }
  }
  return out;
}
