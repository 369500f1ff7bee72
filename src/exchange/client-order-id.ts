/**
 * Deterministic client order ids: the same strategy deciding the same order
 * on the same candle gets the same id, in this process or after a restart, so
 * an order is looked up instead of placed twice.
 *
 * Shape: `qf` + 8 hex of sha256(namespace | strategy | symbol) + candle close
 * time in base 36 + `-` + sequence in base 36: letters, digits and one dash,
 * at most 24 characters — inside Binance's 36 and the 32-character limits of
 * OKX, Bybit and others.
 */
import { createHash } from 'node:crypto';

export function clientOrderIdPrefix(namespace: string, strategy: string, symbol: string): string {
  const hash = createHash('sha256').update(`${namespace}\u0000${strategy}\u0000${symbol}`).digest('hex');
  return `qf${hash.slice(0, 8)}`;
}

/** `seq` counts the orders decided on one candle of one symbol, from 0. */
export function makeClientOrderId(prefix: string, candleCloseTime: number, seq: number): string {
  return `${prefix}${Math.max(0, Math.floor(candleCloseTime)).toString(36)}-${seq.toString(36)}`;
}

/** Whether a client order id was made by quantflow (any strategy). */
export function isQuantflowClientOrderId(id: string | undefined): boolean {
  return typeof id === 'string' && /^qf[0-9a-f]{8}[0-9a-z]+-[0-9a-z]+$/.test(id);
}
