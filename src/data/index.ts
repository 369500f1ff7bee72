export * from './candle-csv-writer.js';
export * from './candle-file.js';
export * from './file-name-meta.js';
export * from './iso-timestamp.js';
export * from './load-report.js';
export * from './ohlcv.js';
export { CANDLE_FIELDS, type CandleField, CandleRowError, type TimestampUnit } from './row-validation.js';
export * from './synthetic.js';
export { timeframeForSpacing } from './timeframe-inference.js';
