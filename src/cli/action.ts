import { InvalidArgumentError } from 'commander';
import { describeError } from '../core/errors.js';
import { parseIsoUtc } from '../data/iso-timestamp.js';

/**
 * Wraps a command's action so any failure becomes one clear line on stderr and
 * exit code 1, instead of a stack trace (set QUANTFLOW_DEBUG=1 for the stack).
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      process.stderr.write(`error: ${describeError(err)}\n`);
      if (process.env.QUANTFLOW_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
      process.exitCode = 1;
    }
  };
}

/** Parse a numeric option, naming the option when it is not a finite number. */
export function numberOption(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n))
      throw new InvalidArgumentError(`--${name} expects a number, got '${value}'`);
    return n;
  };
}

/** Parse an integer option in [min, max], naming the option when it is not one. */
export function integerOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
      throw new InvalidArgumentError(`--${name} expects an integer ${range}, got '${value}'`);
    }
    return n;
  };
}

/** Parse a date option: an ISO date or datetime (UTC unless it has a zone) or epoch milliseconds. */
export function dateOption(name: string): (value: string) => number {
  return (value: string) => {
    const text = value.trim();
    const ms = /^\d{10,}$/.test(text) ? Number(text) : parseIsoUtc(text);
    if (!Number.isFinite(ms)) {
      throw new InvalidArgumentError(
        `--${name} expects a date like 2024-01-01 or 2024-01-01T12:00Z, or epoch ms; got '${value}'`,
      );
    }
    return ms;
  };
}
