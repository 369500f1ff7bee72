/** Paper and live trading through ccxt: exchange, market source, broker, journal, reconciliation, runner. */
export * from './ccxt-broker.js';
export * from './ccxt-exchange.js';
export * from './client-order-id.js';
export * from './credentials.js';
export * from './journal.js';
export * from './kill-switch.js';
export * from './market-source.js';
export * from './reconcile.js';
export * from './retry.js';
export * from './trading-gate.js';
export * from './trading-runner.js';
