/** The HTTP API: `createServer(options)` for programmatic use; `quantflow serve` on the command line. */
export { ApiError, type ApiErrorBody } from './api-errors.js';
export {
  API_KEYS_ENV,
  type ApiKeySpec,
  ApiKeyStore,
  hashApiKey,
  parseApiKeysEnv,
  parseApiKeysJson,
  SCOPES,
  type Scope,
} from './api-keys.js';
export { ModelPool, ServedModel } from './model-pool.js';
export {
  createServer,
  DEFAULT_BODY_LIMIT,
  DEFAULT_CACHE_SIZE,
  DEFAULT_HOST,
  DEFAULT_MAX_BATCH,
  DEFAULT_PORT,
  DEFAULT_PREDICTION_TIMEOUT_MS,
  defaultBodyLimit,
  isLoopback,
  type ListenOptions,
  type QuantflowServer,
  type ServerLogLevel,
  type ServerOptions,
  type ServerTlsOptions,
} from './server.js';
export { ServerMetrics } from './server-metrics.js';
export { DEFAULT_TRACKER_WINDOW, type ServerTracker, TrackerWindow } from './tracker-window.js';
