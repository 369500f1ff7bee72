/**
 * `--features`: a built-in feature set by name (core, relative, seed) or a
 * JSON file holding a feature configuration (see src/features/feature-config.ts)
 * or a schema printed by `quantflow features schema`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../core/errors.js';
import { parseFeatureConfig } from '../features/feature-config.js';
import { BUILTIN_FEATURE_SETS, type FeatureSetName, parseFeatureSchema } from '../features/feature-schema.js';
import type { FeatureSetSpec } from '../features/feature-sets.js';

export const FEATURES_HELP = `feature set: ${BUILTIN_FEATURE_SETS.join(', ')}, or a JSON file with a feature configuration`;

/** Reads `--features`; the timeframe fills a configuration's `timeframe` when it has higher timeframes and none. */
export function readFeatureSet(value: string | undefined, timeframe?: string): FeatureSetSpec | undefined {
  if (value === undefined) return undefined;
  if (BUILTIN_FEATURE_SETS.includes(value as FeatureSetName)) return value as FeatureSetName;
  const file = path.resolve(value);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === 'ENOENT'
        ? `'${value}' is neither a feature set (${BUILTIN_FEATURE_SETS.join(', ')}) nor a file`
        : `not a JSON feature configuration (${(err as Error).message})`,
      { file, field: 'features' },
    );
  }
  try {
    const obj = json as Record<string, unknown>;
    // A schema printed by `features schema`, or a bare configuration.
    if (Array.isArray(obj?.features)) return parseFeatureSchema(json, file);
    const config = parseFeatureConfig(json);
    return config.higherTimeframes !== undefined && config.timeframe === undefined && timeframe !== undefined
      ? { ...config, timeframe }
      : config;
  } catch (err) {
    throw new ConfigError((err as Error).message, { file, field: 'features' }, { cause: err });
  }
}
