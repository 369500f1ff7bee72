/** The fake Binance spot exchange for integration tests: start it, point a real ccxt client at it. */
export { type BinanceClient, createCcxtClient, FAKE_BINANCE_OPTIONS } from './ccxt-client.js';
export { type FakeExchange, type RequestFilter, startFakeExchange } from './server.js';
export type * from './types.js';
