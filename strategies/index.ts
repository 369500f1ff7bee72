export * from './buy-and-hold.js';
export * from './sma-crossover.js';
