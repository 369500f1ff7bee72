/**
 * Adapters that run QuantFlow strategies inside other bots and frameworks.
 * The grademark adapter is its own entry point (`quantflow-ml/adapters/grademark`)
 * because its types come from grademark, an optional peer dependency.
 */
export * from './backtest-kit.js';
export * from './embedded-strategy.js';
export * from './model-source.js';
