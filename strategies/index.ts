export * from './always-long.js';
export * from './buy-and-hold.js';
export * from './ml-strategy.js';
export * from './sma-crossover.js';
