/** What the route modules of one server share. */
import type { FastifyBaseLogger } from 'fastify';
import type { ModelRegistry } from '../registry/model-registry.js';
import type { ModelRef } from '../registry/registry-layout.js';
import type { Scope } from './api-keys.js';
import type { ModelPool } from './model-pool.js';
import type { ServerMetrics } from './server-metrics.js';
import type { SourceRoots } from './source-paths.js';
import type { ServerTracker } from './tracker-window.js';

export interface ServerLimits {
  /** Bytes of a request body. */
  readonly bodyLimit: number;
  /** Rows or candles of one predict request. */
  readonly maxBatch: number;
  /** Milliseconds one prediction (single row, batch or candle series) may take. */
  readonly predictionTimeoutMs: number;
  /** Milliseconds a model-management request may take (fastify handlerTimeout of those routes). */
  readonly handlerTimeoutMs: number;
}

export interface ServerContext {
  readonly registry: ModelRegistry;
  readonly pool: ModelPool;
  readonly tracker: ServerTracker;
  readonly metrics: ServerMetrics;
  /** The /metrics text: this process's, or a whole cluster's. */
  readonly renderMetrics: () => Promise<string>;
  readonly limits: ServerLimits;
  /** This process's name in a cluster ('worker 2'), or null. */
  readonly instance: string | null;
  /** The resident memory budget in bytes (--max-memory), or null. */
  readonly memoryBudget: number | null;
  /** The model a predict request without `model` gets, or null. */
  readonly defaultModel: { readonly ref: string; readonly parsed: ModelRef } | null;
  readonly sourceRoots: SourceRoots;
  /** Directories a Python model's script may be run from (real paths). */
  readonly pythonDirs: readonly string[];
  readonly startedAt: Date;
  readonly auth: 'api-keys' | 'disabled';
  readonly log: FastifyBaseLogger;
}

/** Route option `config.scope`: the API key scope a route needs (none = public). */
export interface RouteAccess {
  readonly scope?: Scope;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    scope?: Scope;
  }
  interface FastifyRequest {
    /** Label of the API key that authenticated the request ('' = none, 'anonymous' with auth disabled). */
    keyLabel: string;
  }
}
