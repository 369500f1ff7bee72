export * from './batch-extractor.js';
export * from './candle-checks.js';
export * from './dataset.js';
export * from './dataset-splits.js';
export * from './feature-schema.js';
export * from './feature-sets.js';
export * from './scaler.js';
export * from './streaming-extractor.js';
