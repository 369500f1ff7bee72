/**
 * Field checks shared by the tracker's inputs and the records read back from
 * its file, so both reject the same things with a DataError naming the field.
 */
import { DataError, type ErrorLocation } from '../core/errors.js';

export function requireString(value: unknown, field: string, where: ErrorLocation): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new DataError(`expected a non-empty string, got ${show(value)}`, { ...where, field });
  }
  return value;
}

export function requireFinite(value: unknown, field: string, where: ErrorLocation): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new DataError(`expected a finite number, got ${show(value)}`, { ...where, field });
  }
  return value;
}

export function requireProbability(value: unknown, field: string, where: ErrorLocation): number {
  const p = requireFinite(value, field, where);
  if (p < 0 || p > 1) throw new DataError(`expected a probability in [0, 1], got ${p}`, { ...where, field });
  return p;
}

export function requirePositiveInteger(value: unknown, field: string, where: ErrorLocation): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new DataError(`expected a positive integer, got ${show(value)}`, { ...where, field });
  }
  return value;
}

export function requirePositive(value: unknown, field: string, where: ErrorLocation): number {
  const x = requireFinite(value, field, where);
  if (x <= 0) throw new DataError(`expected a positive number, got ${x}`, { ...where, field });
  return x;
}

export function requireBinaryOutcome(value: unknown, field: string, where: ErrorLocation): 0 | 1 {
  if (value !== 0 && value !== 1) throw new DataError(`expected 0 or 1, got ${show(value)}`, { ...where, field });
  return value;
}

function show(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  const text = JSON.stringify(value) ?? typeof value;
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
