/**
 * Every feature set by name or configuration: the fixed `seed` and
 * `relative` sets (fixed-feature-sets.ts) and the configured ones, `core`
 * (the default) and custom configurations (feature-config.ts), resolved to
 * the schema a model saves and is checked against at load.
 */
import { ModelError } from '../core/errors.js';
import { configSchema } from './config-schema.js';
import { CORE_FEATURE_CONFIG, type FeatureConfig } from './feature-config.js';
import { assertFeatureSetName, assertSameSchema, type FeatureSchema, type FeatureSetName } from './feature-schema.js';
import { FEATURE_SCHEMAS, isFixedFeatureSet } from './fixed-feature-sets.js';

export {
  FEATURE_SCHEMAS,
  FEATURE_WRITERS,
  type FeatureBuffer,
  type FeatureWriter,
  type FixedFeatureSet,
  INDICATOR_PARAMS,
  isFixedFeatureSet,
  RELATIVE_SCHEMA,
  SEED_SCHEMA,
  writeRelativeFeatures,
  writeSeedFeatures,
} from './fixed-feature-sets.js';

export const DEFAULT_FEATURE_SET: FeatureSetName = 'core';

/** A feature set as callers may give it: a built-in name, a configuration, or a schema read from a model. */
export type FeatureSetSpec = FeatureSetName | FeatureConfig | FeatureSchema;

function isSchema(value: FeatureConfig | FeatureSchema): value is FeatureSchema {
  return Array.isArray((value as FeatureSchema).features) && typeof (value as FeatureSchema).name === 'string';
}

/**
 * The schema of a feature set: a built-in set by name, a configuration (a
 * custom set), or a schema read from a saved model after checking that it is
 * exactly what the set's formulas (and, for a configured set, its saved
 * configuration) give today (ModelError listing the differences if not).
 */
export function resolveFeatureSchema(set: FeatureSetSpec = DEFAULT_FEATURE_SET): FeatureSchema {
  if (typeof set === 'string') {
    assertFeatureSetName(set);
    return isFixedFeatureSet(set) ? FEATURE_SCHEMAS[set] : configSchema(CORE_FEATURE_CONFIG, 'core');
  }
  if (!isSchema(set)) return configSchema(set, 'custom');
  if (set.config !== undefined) {
    if (set.name !== 'core' && set.name !== 'custom') {
      throw new ModelError(`feature set '${set.name}' has no configuration`, { field: 'featureSchema' });
    }
    let rebuilt: FeatureSchema;
    try {
      rebuilt = configSchema(set.config, set.name);
    } catch (err) {
      throw new ModelError(`the saved feature configuration is invalid: ${(err as Error).message}`, {
        field: 'featureSchema.config',
      });
    }
    assertSameSchema(rebuilt, set);
    return rebuilt;
  }
  const builtin = isFixedFeatureSet(set.name) ? FEATURE_SCHEMAS[set.name] : undefined;
  if (builtin === undefined) throw new ModelError(`unknown feature set '${set.name}'`, { field: 'featureSchema' });
  assertSameSchema(builtin, set);
  return builtin;
}
