/**
 * The API's one JSON body parser (fastify's is replaced, so every route and
 * the off-thread decoder parse alike): `JSON.parse`, then refusal of the keys
 * that pollute prototypes when an object is later merged or copied:
 * `__proto__` anywhere, and `constructor` holding a `prototype`. Refusals name
 * the key's place (`rows[3].__proto__`), never "not valid JSON".
 */
import { ApiError } from './api-errors.js';

/** Cheap pre-check: without these the parsed value cannot hold a forbidden key (escapes included). */
function maybePoisoned(text: string): boolean {
  return text.includes('__proto__') || text.includes('constructor') || text.includes('\\u');
}

function forbiddenKey(value: unknown, where: string): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = forbiddenKey(value[i], `${where}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    const child = (value as Record<string, unknown>)[key];
    const place = where === '' ? key : `${where}.${key}`;
    if (key === '__proto__') return place;
    if (key === 'constructor' && child !== null && typeof child === 'object' && 'prototype' in child) {
      return `${place}.prototype`;
    }
    const found = forbiddenKey(child, place);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Parses a request body; ApiError 400 (EMPTY_BODY, MALFORMED_JSON, FORBIDDEN_KEY) otherwise. */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) {
    throw new ApiError(
      400,
      'EMPTY_BODY',
      'the request body is empty; send a JSON object (content-type application/json)',
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, 'MALFORMED_JSON', `request body is not valid JSON (${(err as Error).message})`, null, {
      cause: err,
    });
  }
  if (maybePoisoned(text)) {
    const place = forbiddenKey(value, '');
    if (place !== undefined) {
      throw new ApiError(
        400,
        'FORBIDDEN_KEY',
        `the key '${place}' is not allowed in a request body ('__proto__' and 'constructor.prototype' could pollute object prototypes)`,
        place,
      );
    }
  }
  return value;
}
