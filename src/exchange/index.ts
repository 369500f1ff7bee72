/** Paper and live trading through ccxt: exchange, market source, broker, journal, reconciliation, runner. */

export {
  KillSwitch,
  KillSwitchError,
  type KillSwitchLimits,
  type KillSwitchState,
  type KillSwitchTrip,
} from '../engine/kill-switch.js';
export type { CandlePhase } from '../engine/order-gate.js';
export {
  clientOrderIdPrefix,
  isQuantflowClientOrderId,
  makeClientOrderId,
} from '../engine/orders.js';
export * from './candle-sanity.js';
export * from './ccxt-broker.js';
export * from './ccxt-exchange.js';
export * from './credentials.js';
export * from './journal.js';
export * from './market-source.js';
export * from './reconcile.js';
export * from './retry.js';
export * from './trading-runner.js';
