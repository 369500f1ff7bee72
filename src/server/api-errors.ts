/**
 * Every refusal of the HTTP API is `{error: {code, message, field}}` with a
 * 4xx status; only a fault of the server itself is a 5xx. This module turns
 * whatever was thrown (our typed errors, fastify's body-parser errors, ajv
 * validation errors) into that shape, so no handler needs to.
 */
import { ConfigError, DataError, IntegrityError, ModelError, QuantflowError } from '../core/errors.js';

export interface ApiErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly field: string | null };
}

/** An error answered with `status` and a JSON body; thrown by handlers and hooks. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | null = null,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ApiError';
  }

  body(): ApiErrorBody {
    return { error: { code: this.code, message: this.message, field: this.field } };
  }
}

/** One ajv error as fastify hands it over (the fields we read). */
interface ValidationIssue {
  readonly keyword: string;
  readonly instancePath: string;
  readonly message?: string;
  readonly params: Record<string, unknown>;
}

/** '/rows/3/7' -> 'rows[3][7]', '/candles/2/close' -> 'candles[2].close'. */
export function fieldOfPointer(pointer: string, extra?: string): string {
  const parts = pointer === '' ? [] : pointer.slice(1).split('/');
  if (extra !== undefined) parts.push(extra);
  let out = '';
  for (const raw of parts) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^(0|[1-9][0-9]*)$/.test(part)) out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

/** The API error for the first ajv issue of a request part ('body', 'querystring', 'params'). */
export function validationError(
  issues: readonly ValidationIssue[],
  context: string | undefined,
  limits: { maxBatch: number },
): ApiError {
  const issue = issues[0];
  if (issue === undefined) return new ApiError(400, 'INVALID_REQUEST', 'the request is invalid');
  const where = context === 'querystring' ? 'query' : context === 'params' ? 'path' : 'body';
  switch (issue.keyword) {
    case 'maxItems': {
      const field = fieldOfPointer(issue.instancePath);
      if (where === 'body' && (field === 'rows' || field === 'candles')) {
        return new ApiError(
          413,
          'BATCH_TOO_LARGE',
          `${field} holds more than the limit of ${limits.maxBatch} items per request (server option --max-batch); split the batch`,
          field,
        );
      }
      return new ApiError(400, 'INVALID_REQUEST', `${field} ${issue.message ?? 'has too many items'}`, field);
    }
    case 'required': {
      const field = fieldOfPointer(issue.instancePath, String(issue.params.missingProperty));
      return new ApiError(400, 'FIELD_REQUIRED', `${where} field '${field}' is required`, field);
    }
    case 'additionalProperties': {
      const field = fieldOfPointer(issue.instancePath, String(issue.params.additionalProperty));
      return new ApiError(400, 'UNKNOWN_FIELD', `${where} field '${field}' is not allowed here`, field);
    }
    case 'type': {
      const field = fieldOfPointer(issue.instancePath);
      const expected = String(issue.params.type);
      const label = field === '' ? where : field;
      const hint = expected.includes('number')
        ? ' (a JSON number: null, strings such as "NaN" and other values are refused)'
        : '';
      return new ApiError(
        400,
        'INVALID_TYPE',
        `${label} must be of type ${expected}${hint}`,
        field === '' ? null : field,
      );
    }
    default: {
      const field = fieldOfPointer(issue.instancePath);
      const label = field === '' ? where : field;
      return new ApiError(
        400,
        'INVALID_REQUEST',
        `${label} ${issue.message ?? 'is invalid'}`,
        field === '' ? null : field,
      );
    }
  }
}

/** fastify's own client errors (body parser, content type) as API errors. */
const FASTIFY_CODES: Readonly<Record<string, { status: number; code: string }>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'BODY_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'INVALID_CONTENT_LENGTH' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'EMPTY_BODY' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'MALFORMED_JSON' },
  FST_ERR_CTP_INVALID_TYPE: { status: 400, code: 'INVALID_CONTENT_TYPE' },
  FST_ERR_CTP_INVALID_CONTENT_TYPE: { status: 400, code: 'INVALID_CONTENT_TYPE' },
};

/**
 * The HTTP status of one of our typed errors: wrong input or configuration is
 * the client's (400), a model that fails its checks or cannot load is 422
 * (the request is well formed but names something unusable), the rest 500.
 */
export function statusOfQuantflowError(err: QuantflowError): number {
  if (err instanceof ConfigError || err instanceof DataError) return 400;
  if (err instanceof IntegrityError || err instanceof ModelError) return 422;
  return 500;
}

/** The API error for anything thrown while serving a request. */
export function toApiError(err: unknown, limits: { maxBatch: number; bodyLimit: number }): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof QuantflowError) {
    const status = statusOfQuantflowError(err);
    return new ApiError(status, err.code, err.message, err.where.field ?? null, { cause: err });
  }
  const e = err as {
    code?: unknown;
    statusCode?: unknown;
    validation?: ValidationIssue[];
    validationContext?: string;
    message?: unknown;
  } | null;
  if (e !== null && typeof e === 'object') {
    if (Array.isArray(e.validation)) return validationError(e.validation, e.validationContext, limits);
    const known = typeof e.code === 'string' ? FASTIFY_CODES[e.code] : undefined;
    if (known !== undefined) {
      const message =
        known.code === 'BODY_TOO_LARGE'
          ? `request body exceeds the limit of ${limits.bodyLimit} bytes (server option --body-limit)`
          : known.code === 'MALFORMED_JSON'
            ? `request body is not valid JSON (${String(e.message)})`
            : String(e.message);
      return new ApiError(known.status, known.code, message, null, { cause: err });
    }
    // Any other client error fastify raises.
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      const code = e.statusCode === 400 && typeof e.code !== 'string' ? 'MALFORMED_JSON' : 'BAD_REQUEST';
      return new ApiError(e.statusCode, code, String(e.message), null, { cause: err });
    }
  }
  return new ApiError(500, 'INTERNAL', 'internal server error (see the server log)', null, { cause: err });
}
