/**
 * The library: domain types and the strategy interface, candle data, features,
 * models, the registry, the prediction tracker and the engine. Edges with heavy
 * dependencies have their own entry points so importing this one stays light:
 * `quantflow-ml/exchange` (ccxt), `quantflow-ml/server` (fastify),
 * `quantflow-ml/sweep` (worker pool, BullMQ), `quantflow-ml/adapters`,
 * `quantflow-ml/strategies` and `quantflow-ml/backtest`.
 */
export * from './core/index.js';
export * from './data/index.js';
export * from './engine/index.js';
export * from './features/index.js';
export * from './models/index.js';
export * from './registry/index.js';
export * from './risk/index.js';
export * from './tracking/index.js';
