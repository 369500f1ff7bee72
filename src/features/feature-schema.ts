/**
 * Feature schema: the ordered list of named features a model was trained on.
 * It is saved with every model and compared on load, so a model is never fed
 * columns in a different order or meaning than it learned.
 */
import { ConfigError, ModelError } from '../core/errors.js';
import type { FeatureConfig } from './feature-config.js';

/** Built-in sets ('seed' and 'relative' fixed, 'core' a configuration) and 'custom' for a user's configuration. */
export type FeatureSetName = 'seed' | 'relative' | 'core' | 'custom';
export const FEATURE_SET_NAMES: readonly FeatureSetName[] = ['seed', 'relative', 'core', 'custom'];
/** The names a user may pick a built-in set by. */
export const BUILTIN_FEATURE_SETS: readonly FeatureSetName[] = ['core', 'relative', 'seed'];

export interface FeatureSpec {
  readonly name: string;
  /** Number of candles that must come before this one for the value to be defined (0 = defined on the first candle). */
  readonly warmup: number;
  readonly description: string;
}

/** Plain JSON: safe to embed in a model's metadata file. */
export interface FeatureSchema {
  readonly name: FeatureSetName;
  /** Bumped whenever a formula or parameter of the set changes. */
  readonly version: number;
  readonly features: readonly FeatureSpec[];
  /** The configuration the features were built from (configured sets: 'core', 'custom'). */
  readonly config?: FeatureConfig;
  /** Candles before the first row, when more than the largest warm-up (EMA-type parts converging). */
  readonly history?: number;
}

export function featureNames(schema: FeatureSchema): string[] {
  return schema.features.map((f) => f.name);
}

/** Candles needed before the first feature row: the largest warm-up of the set, or its history when longer. */
export function schemaWarmup(schema: FeatureSchema): number {
  let max = schema.history ?? 0;
  for (const f of schema.features) if (f.warmup > max) max = f.warmup;
  return max;
}

/**
 * Throws a ModelError that lists every difference between the schema a model
 * was trained with (`expected`) and the one about to feed it (`actual`):
 * set name, version, missing, extra and reordered features.
 */
export function assertSameSchema(expected: FeatureSchema, actual: FeatureSchema): void {
  const problems: string[] = [];
  if (expected.name !== actual.name) problems.push(`feature set '${actual.name}' instead of '${expected.name}'`);
  if (expected.version !== actual.version) problems.push(`version ${actual.version} instead of ${expected.version}`);

  const want = featureNames(expected);
  const have = featureNames(actual);
  const haveSet = new Set(have);
  const wantSet = new Set(want);
  const missing = want.filter((n) => !haveSet.has(n));
  const extra = have.filter((n) => !wantSet.has(n));
  if (missing.length > 0) problems.push(`missing feature(s) ${missing.join(', ')}`);
  if (extra.length > 0) problems.push(`extra feature(s) ${extra.join(', ')}`);

  // Order only matters among the features both sides have.
  const commonWant = want.filter((n) => haveSet.has(n));
  const commonHave = have.filter((n) => wantSet.has(n));
  const moved: string[] = [];
  for (let i = 0; i < commonWant.length; i++) {
    if (commonWant[i] !== commonHave[i]) {
      const name = commonWant[i]!;
      moved.push(`${name} (expected position ${want.indexOf(name)}, found ${have.indexOf(name)})`);
    }
  }
  if (moved.length > 0) problems.push(`reordered feature(s) ${moved.join(', ')}`);

  if ((expected.history ?? 0) !== (actual.history ?? 0)) {
    problems.push(`history ${actual.history ?? 0} instead of ${expected.history ?? 0} candles`);
  }
  const warmups = new Map(expected.features.map((f) => [f.name, f.warmup]));
  for (const f of actual.features) {
    const w = warmups.get(f.name);
    if (w !== undefined && w !== f.warmup) problems.push(`feature ${f.name} has warm-up ${f.warmup} instead of ${w}`);
  }

  if (problems.length > 0) {
    throw new ModelError(`feature schema mismatch: ${problems.join('; ')}`, { field: 'featureSchema' });
  }
}

/** Checks that an unknown value (e.g. parsed from a model file) is a well-formed schema. */
export function parseFeatureSchema(value: unknown, file?: string): FeatureSchema {
  const where = file === undefined ? { field: 'featureSchema' } : { file, field: 'featureSchema' };
  if (typeof value !== 'object' || value === null) throw new ModelError('feature schema is not an object', where);
  const v = value as Record<string, unknown>;
  if (!FEATURE_SET_NAMES.includes(v.name as FeatureSetName)) {
    throw new ModelError(`unknown feature set '${String(v.name)}' (expected ${FEATURE_SET_NAMES.join(', ')})`, where);
  }
  if ((v.name === 'core' || v.name === 'custom') && (typeof v.config !== 'object' || v.config === null)) {
    throw new ModelError(`feature set '${v.name}' needs its configuration ('config')`, where);
  }
  if (v.history !== undefined && !(Number.isInteger(v.history) && (v.history as number) >= 0)) {
    throw new ModelError('feature schema history must be an integer >= 0', where);
  }
  if (typeof v.version !== 'number' || !Number.isInteger(v.version)) {
    throw new ModelError('feature schema version must be an integer', where);
  }
  if (!Array.isArray(v.features)) throw new ModelError('feature schema has no features array', where);
  const features: FeatureSpec[] = v.features.map((f: unknown, i: number) => {
    const spec = f as Record<string, unknown> | null;
    if (
      spec === null ||
      typeof spec !== 'object' ||
      typeof spec.name !== 'string' ||
      typeof spec.warmup !== 'number' ||
      !Number.isInteger(spec.warmup) ||
      spec.warmup < 0
    ) {
      throw new ModelError(`feature ${i} must have a string name and a non-negative integer warmup`, where);
    }
    return { name: spec.name, warmup: spec.warmup, description: String(spec.description ?? '') };
  });
  return {
    name: v.name as FeatureSetName,
    version: v.version,
    features,
    ...(v.config !== undefined ? { config: v.config as FeatureConfig } : {}),
    ...(v.history !== undefined ? { history: v.history as number } : {}),
  };
}

/** A built-in set a user may name (not 'custom': a custom set is given by its configuration). */
export function assertFeatureSetName(name: string): asserts name is FeatureSetName {
  if (!BUILTIN_FEATURE_SETS.includes(name as FeatureSetName)) {
    throw new ConfigError(
      `unknown feature set '${name}' (expected ${BUILTIN_FEATURE_SETS.join(', ')}, or a JSON feature configuration file)`,
      { field: 'featureSet' },
    );
  }
}
