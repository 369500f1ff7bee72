/**
 * What the registry shows of a version's `meta.json` in listings: kind,
 * training market and validation metrics. Parsing and checking meta.json is
 * done by the models layer (parseModelMeta), the one implementation of it.
 */
import type { ModelKind, ModelMeta, ValidationMetrics } from '../models/model-meta.js';

export interface MetaSummary {
  readonly kind: ModelKind;
  readonly name: string;
  readonly createdAt: string;
  readonly symbol: string;
  readonly timeframe: string;
  readonly featureSet: string;
  readonly inputWidth: number;
  readonly validation: ValidationMetrics | null;
}

export function summarizeMeta(meta: ModelMeta): MetaSummary {
  return {
    kind: meta.kind,
    name: meta.name,
    createdAt: meta.createdAt,
    symbol: meta.training.symbol,
    timeframe: meta.training.timeframe,
    featureSet: meta.featureSchema.name,
    inputWidth: meta.inputWidth,
    validation: meta.validation ?? null,
  };
}
