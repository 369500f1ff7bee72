/**
 * Typed errors. Every error says what was wrong and where, so the CLI can print
 * one clear line and the API can map it to a 4xx with the offending field.
 */

/** Where a problem was found: any of file, line (1-based), field, symbol, index. */
export interface ErrorLocation {
  file?: string;
  line?: number;
  field?: string;
  symbol?: string;
  index?: number;
}

export class QuantflowError extends Error {
  readonly code: string;
  readonly where: ErrorLocation;

  constructor(code: string, message: string, where: ErrorLocation = {}, options?: ErrorOptions) {
    super(withLocation(message, where), options);
    this.name = new.target.name;
    this.code = code;
    this.where = where;
  }
}

/** Bad input data: malformed candles, NaN, out-of-order timestamps, wrong feature count. */
export class DataError extends QuantflowError {
  constructor(message: string, where: ErrorLocation = {}, options?: ErrorOptions) {
    super('DATA_INVALID', message, where, options);
  }
}

/** Invalid options or configuration given by the user. */
export class ConfigError extends QuantflowError {
  constructor(message: string, where: ErrorLocation = {}, options?: ErrorOptions) {
    super('CONFIG_INVALID', message, where, options);
  }
}

/** A model cannot be found, loaded or run. */
export class ModelError extends QuantflowError {
  constructor(message: string, where: ErrorLocation = {}, options?: ErrorOptions) {
    super('MODEL_ERROR', message, where, options);
  }
}

/** A stored file does not match its recorded checksum, or cannot be decrypted. */
export class IntegrityError extends QuantflowError {
  constructor(message: string, where: ErrorLocation = {}, options?: ErrorOptions) {
    super('INTEGRITY_FAILED', message, where, options);
  }
}

/** An order was refused by the broker (simulated or real). */
export class OrderRejectedError extends QuantflowError {
  constructor(message: string, where: ErrorLocation = {}, options?: ErrorOptions) {
    super('ORDER_REJECTED', message, where, options);
  }
}

/** The exchange failed or answered with something we cannot use. */
export class ExchangeError extends QuantflowError {
  constructor(message: string, where: ErrorLocation = {}, options?: ErrorOptions) {
    super('EXCHANGE_ERROR', message, where, options);
  }
}

function withLocation(message: string, where: ErrorLocation): string {
  const parts: string[] = [];
  if (where.file !== undefined) parts.push(where.line !== undefined ? `${where.file}:${where.line}` : where.file);
  else if (where.line !== undefined) parts.push(`line ${where.line}`);
  if (where.symbol !== undefined) parts.push(`symbol ${where.symbol}`);
  if (where.index !== undefined) parts.push(`index ${where.index}`);
  if (where.field !== undefined) parts.push(`field '${where.field}'`);
  return parts.length > 0 ? `${parts.join(', ')}: ${message}` : message;
}

/** One line for a human: the message of a QuantflowError, or name and message otherwise. */
export function describeError(err: unknown): string {
  if (err instanceof QuantflowError) return err.message;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
