/**
 * JSON schemas of the API's requests (checked by fastify's ajv, with type
 * coercion OFF: "1.5", null and "NaN" are not numbers) and of the hot
 * responses (serialised by fast-json-stringify). Checks that need the model
 * (row width, candle warm-up) are done by the handlers.
 */

import { MODEL_KINDS } from '../models/model-meta.js';

const errorResponse = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        field: { type: ['string', 'null'] },
      },
    },
  },
} as const;

const forecastSchema = {
  type: 'object',
  properties: { value: { type: 'number' }, naive: { type: 'number' } },
} as const;

export const MODEL_REF_SCHEMA = { type: 'string', minLength: 1, maxLength: 200 } as const;

export function predictSchema(maxBatch: number, maxFeatures: number) {
  return {
    body: {
      type: 'object',
      additionalProperties: false,
      properties: {
        model: MODEL_REF_SCHEMA,
        features: { type: 'array', maxItems: maxFeatures, items: { type: 'number' } },
        rows: {
          type: 'array',
          minItems: 1,
          maxItems: maxBatch,
          items: { type: 'array', maxItems: maxFeatures, items: { type: 'number' } },
        },
        candles: { type: 'array', minItems: 1, maxItems: maxBatch, items: { type: ['object', 'array'] } },
        symbol: { type: 'string', minLength: 1, maxLength: 64 },
        timeframe: { type: 'string', minLength: 1, maxLength: 16 },
        all: { type: 'boolean' },
      },
    },
    response: {
      200: {
        type: 'object',
        properties: {
          model: { type: 'string' },
          target: { type: 'string' },
          prediction: { type: 'number' },
          expectedReturn: { type: 'number' },
          forecast: forecastSchema,
          cached: { type: 'boolean' },
          predictions: { type: 'array', items: { type: 'number' } },
          symbol: { type: 'string' },
          timestamp: { type: 'number' },
          count: { type: 'integer' },
          series: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                timestamp: { type: 'number' },
                prediction: { type: 'number' },
                expectedReturn: { type: 'number' },
                forecast: forecastSchema,
              },
            },
          },
          tracked: { type: 'integer' },
        },
      },
      '4xx': errorResponse,
      '5xx': errorResponse,
    },
  };
}

const nameParam = { type: 'string', minLength: 1, maxLength: 100 } as const;
const forceQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { force: { type: 'string', enum: ['true', 'false', '1', '0', ''] } },
} as const;

export const registerSchema = {
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'source'],
    properties: {
      name: nameParam,
      source: {
        type: 'object',
        additionalProperties: false,
        required: ['type'],
        properties: {
          type: { type: 'string', enum: ['registry', ...MODEL_KINDS] },
          ref: MODEL_REF_SCHEMA,
          path: { type: 'string', minLength: 1, maxLength: 4096 },
        },
      },
      activate: { type: 'boolean' },
    },
  },
} as const;

export const modelParamsSchema = {
  params: {
    type: 'object',
    required: ['name'],
    properties: { name: nameParam },
  },
} as const;

export const promoteSchema = {
  params: modelParamsSchema.params,
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['version'],
    properties: { version: { type: ['string', 'integer'], minLength: 1, maxLength: 12 } },
  },
} as const;

export const deleteModelSchema = { params: modelParamsSchema.params, querystring: forceQuery } as const;

export const deleteVersionSchema = {
  params: {
    type: 'object',
    required: ['name', 'v'],
    properties: { name: nameParam, v: { type: 'string', minLength: 1, maxLength: 12 } },
  },
  querystring: forceQuery,
} as const;

export const statsSchema = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      symbol: { type: 'string', minLength: 1, maxLength: 64 },
      model: { type: 'string', minLength: 1, maxLength: 200 },
      window: { type: 'string', pattern: '^[1-9][0-9]{0,8}$' },
    },
  },
} as const;

export const healthSchema = {
  response: {
    200: {
      type: 'object',
      properties: {
        status: { type: 'string' },
        uptimeSeconds: { type: 'number' },
        startedAt: { type: 'string' },
        auth: { type: 'string' },
        defaultModel: { type: ['string', 'null'] },
        models: {
          type: 'object',
          properties: { loaded: { type: 'integer' }, refs: { type: 'array', items: { type: 'string' } } },
        },
        process: {
          type: 'object',
          properties: { pid: { type: 'integer' }, instance: { type: ['string', 'null'] } },
        },
        memory: {
          type: 'object',
          properties: {
            rssBytes: { type: 'integer' },
            heapUsedBytes: { type: 'integer' },
            budgetBytes: { type: ['integer', 'null'] },
            overBudget: { type: 'boolean' },
          },
        },
        tracker: { type: 'object', properties: { predictions: { type: 'integer' } } },
      },
    },
  },
} as const;
