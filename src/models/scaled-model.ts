/**
 * The narrow interface each model backend implements (TensorFlow.js, Python):
 * rows already scaled with the model's scaler in, probabilities out. Input
 * validation, scaling and caching live once, in the predictor wrapped around it.
 */
export interface ScaledModel {
  readonly inputWidth: number;
  /** `rows` is row-major, `n * inputWidth` scaled values; returns n probabilities of "up". */
  predictScaled(rows: Float32Array): Promise<Float32Array>;
  /** Frees tensors or stops a worker. Idempotent. */
  dispose(): Promise<void>;
}
