export * from './errors.js';
export * from './events.js';
export * from './logger.js';
export * from './precision.js';
export * from './random.js';
export * from './strategy.js';
export * from './timeframe.js';
export * from './types.js';
