/**
 * The QuantFlow ML HTTP API on fastify: model registry management, predictions
 * from feature rows or raw candles, tracker statistics, health and Prometheus
 * metrics, behind API keys with scopes, over HTTPS (optionally HTTP/2 and
 * client certificates) or plain HTTP on loopback. `createServer(options)`
 * opens the registry, loads the keys and the default model, and returns the
 * server ready to `listen()`; `close()` stops taking requests, lets the ones
 * in flight finish, then disposes every model (stopping Python workers) and
 * closes the tracker.
 *
 * Bounded work and memory: per-key rate and concurrency limits, header and
 * body timeouts, a batch size the body limit can hold, inference in chunks
 * that let other requests in, a bounded in-memory tracker, an RSS budget
 * (503 above it) and size limits on every cache.
 *
 * An edge layer: it only wires the registry, models, features and tracker
 * below it to HTTP; every rule about model files lives in those layers.
 */

import { realpath } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { ConfigError, describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { BUNDLED_PYTHON_DIR } from '../models/python-model.js';
import { ModelRegistry, type RegistryOptions } from '../registry/model-registry.js';
import { type ModelRef, parseModelRef } from '../registry/registry-layout.js';
import { PredictionTracker, type PredictionTrackerOptions } from '../tracking/prediction-tracker.js';
import { ApiError, toApiError } from './api-errors.js';
import {
  API_KEYS_ENV,
  type ApiKeySpec,
  ApiKeyStore,
  hasScope,
  parseApiKeysEnv,
  presentedKey,
  readApiKeysFile,
} from './api-keys.js';
import { BufferedLogStream } from './buffered-log-stream.js';
import { parseJsonBody } from './json-body.js';
import { ModelPool } from './model-pool.js';
import { registerModelRoutes } from './model-routes.js';
import { registerOpsRoutes } from './ops-routes.js';
import { PREDICT_ROUTE, registerPredictRoute } from './predict-route.js';
import { RegistryWatcher } from './registry-watcher.js';
import { DECODED_ROWS, RowsDecoder } from './rows-decoder.js';
import type { ServerContext, ServerLimits } from './server-context.js';
import { ServerMetrics } from './server-metrics.js';
import { nextTurn, SerialQueue } from './slices.js';
import { DEFAULT_TRACKER_WINDOW, type ServerTracker, TrackerWindow } from './tracker-window.js';

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_MAX_BATCH = 2_000;
/** Room per batch row for the default body limit: a 21-feature row of full-precision doubles is about 460 bytes. */
export const BODY_BYTES_PER_ROW = 512;
/** 1 MiB, or more when --max-batch is raised: a full batch always fits. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const DEFAULT_CACHE_SIZE = 10_000;
export const DEFAULT_PREDICTION_TIMEOUT_MS = 10_000;
export const DEFAULT_HEADERS_TIMEOUT_MS = 5_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_HANDLER_TIMEOUT_MS = 120_000;
export const DEFAULT_MAX_IN_FLIGHT_PER_KEY = 32;
export const DEFAULT_REGISTRY_POLL_MS = 1_000;
/** Bodies from this size on are parsed one per turn of the event loop. */
const BIG_BODY_BYTES = 64 * 1024;

/** The default body limit for a batch limit: 1 MiB or `maxBatch` rows of BODY_BYTES_PER_ROW, whichever is larger. */
export function defaultBodyLimit(maxBatch: number): number {
  return Math.max(DEFAULT_BODY_LIMIT, maxBatch * BODY_BYTES_PER_ROW);
}

/** TLS material (PEM): the server's certificate and key; `ca` plus `requireClientCert` for mutual TLS. */
export interface ServerTlsOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** Certificates of the authorities whose client certificates are accepted. */
  readonly ca?: string | Buffer;
  /** Refuse clients without a certificate signed by `ca` (mutual TLS). */
  readonly requireClientCert?: boolean;
  /** Serve HTTP/2 (HTTP/1.1 stays available to clients that do not negotiate h2). */
  readonly http2?: boolean;
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const kind = isIP(host);
  if (kind === 4) return host.startsWith('127.');
  if (kind === 6) return host === '::1' || host.toLowerCase().startsWith('::ffff:127.');
  return false;
}

export type ServerLogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface ServerOptions {
  /** Registry directory (created when absent) or an open registry. */
  readonly registry: string | ModelRegistry;
  /** When `registry` is a directory: how to open it (encryption key etc.). */
  readonly registryOptions?: RegistryOptions;
  /** Directory models may be registered from (relative `source.path`s resolve here). */
  readonly modelsDir?: string;
  /** Directories a Python model's script may run from; default: the bundled scripts only. Replaces the default when given. */
  readonly pythonDirs?: readonly string[];
  /** Python executable (default python3). */
  readonly python?: string;
  /** API keys given directly (in addition to `keysFile` and QUANTFLOW_API_KEYS). */
  readonly apiKeys?: readonly ApiKeySpec[];
  /** JSON keys file (see api-keys.ts). */
  readonly keysFile?: string;
  /** Where QUANTFLOW_API_KEYS is read (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Serve without authentication. Refused unless explicitly set when no key is configured. */
  readonly insecureNoAuth?: boolean;
  /** Model for predict requests without `model` ('name', 'name@vN'); default: the registry's only model, if it has exactly one. */
  readonly defaultModel?: string;
  /** A tracker, or the JSON-lines file of a file-backed one (default: in memory, a bounded window). */
  readonly tracker?: PredictionTracker | string;
  readonly trackerOptions?: PredictionTrackerOptions;
  /** Predictions the in-memory tracker holds (default 20,000; see tracker-window.ts). */
  readonly trackerWindow?: number;
  /** Bytes of a request body (default: defaultBodyLimit(maxBatch), 1 MiB at the default batch); larger -> 413. */
  readonly bodyLimit?: number;
  /** Rows or candles per predict request (default 2,000); more -> 413. */
  readonly maxBatch?: number;
  /** Entries of each model's LRU cache of single-row predictions (default 10,000; 0 = off). */
  readonly cacheSize?: number;
  /** Per prediction (default 10 s); exceeded -> 504. */
  readonly predictionTimeoutMs?: number;
  /** Time to receive a request's headers (default 5 s); a slower client is cut (408). */
  readonly headersTimeoutMs?: number;
  /** Time to receive a whole request, body included (default 10 s). */
  readonly requestTimeoutMs?: number;
  /** Socket inactivity timeout (default: the handler timeout plus 5 s). */
  readonly connectionTimeoutMs?: number;
  /** Time a model-management request may take (default 120 s); exceeded -> 503. Predictions have predictionTimeoutMs. */
  readonly handlerTimeoutMs?: number;
  /** Non-active model versions kept loaded (default 8). */
  readonly maxLoadedVersions?: number;
  /** HTTPS (and HTTP/2, mutual TLS). Without it the server listens only on loopback unless `insecurePlaintext`. */
  readonly tls?: ServerTlsOptions;
  /** Allow plain HTTP on a non-loopback address (e.g. behind a TLS-terminating proxy on a private network). */
  readonly insecurePlaintext?: boolean;
  /** Requests per API key per minute on the authenticated routes (default 0 = no limit); more -> 429. */
  readonly rateLimitPerMinute?: number;
  /** Requests of one API key in progress at once (default 32; 0 = no limit); more -> 429. */
  readonly maxInFlightPerKey?: number;
  /** Resident memory budget of the process in bytes: above it, requests other than /health get 503 (default: none). */
  readonly maxMemoryBytes?: number;
  /** How often the registry index of each served model is checked for promotions made elsewhere (default 1 s; 0 = never). */
  readonly registryPollMs?: number;
  /** Where /metrics text comes from (default: this server's registry; a cluster worker asks the primary). */
  readonly renderMetrics?: () => Promise<string>;
  /** This process's name in /health and logs (e.g. 'worker 2'). */
  readonly instance?: string;
  /** JSON logs (pino): level (default info) and destination (default: stdout, written in batches every 50 ms); false = none. */
  readonly logger?: false | { readonly level?: ServerLogLevel; readonly stream?: { write(line: string): void } };
}

export interface ListenOptions {
  readonly port?: number;
  readonly host?: string;
}

export interface QuantflowServer {
  readonly app: FastifyInstance;
  readonly registry: ModelRegistry;
  readonly pool: ModelPool;
  readonly tracker: ServerTracker;
  readonly metrics: ServerMetrics;
  readonly limits: ServerLimits;
  /** Base URL once listening, e.g. 'https://127.0.0.1:8080'. */
  readonly url: string | undefined;
  listen(options?: ListenOptions): Promise<string>;
  /** Finishes in-flight requests, then disposes models and closes the tracker. Idempotent. */
  close(): Promise<void>;
}

function positiveInteger(value: number | undefined, fallback: number, field: string, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min)
    throw new ConfigError(`${field} must be an integer >= ${min}, got ${v}`, { field });
  return v;
}

async function existingDirectory(dir: string, field: string): Promise<string> {
  try {
    return await realpath(path.resolve(dir));
  } catch (err) {
    throw new ConfigError(`directory does not exist (${(err as Error).message})`, { file: dir, field }, { cause: err });
  }
}

const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'request.headers.authorization',
  'request.headers["x-api-key"]',
];

export async function createServer(options: ServerOptions): Promise<QuantflowServer> {
  const maxBatch = positiveInteger(options.maxBatch, DEFAULT_MAX_BATCH, 'maxBatch');
  const limits: ServerLimits = {
    bodyLimit: positiveInteger(options.bodyLimit, defaultBodyLimit(maxBatch), 'bodyLimit', 64),
    maxBatch,
    predictionTimeoutMs: positiveInteger(
      options.predictionTimeoutMs,
      DEFAULT_PREDICTION_TIMEOUT_MS,
      'predictionTimeoutMs',
    ),
    // Per route, not server-wide: fastify's handler timeout costs an AbortSignal per request.
    handlerTimeoutMs: positiveInteger(options.handlerTimeoutMs, DEFAULT_HANDLER_TIMEOUT_MS, 'handlerTimeoutMs'),
  };
  const cacheSize = positiveInteger(options.cacheSize, DEFAULT_CACHE_SIZE, 'cacheSize', 0);
  const requestTimeout = positiveInteger(options.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS, 'requestTimeoutMs');
  // Node requires headersTimeout <= requestTimeout.
  const headersTimeout = Math.min(
    requestTimeout,
    positiveInteger(options.headersTimeoutMs, DEFAULT_HEADERS_TIMEOUT_MS, 'headersTimeoutMs'),
  );
  const maxInFlight = positiveInteger(options.maxInFlightPerKey, DEFAULT_MAX_IN_FLIGHT_PER_KEY, 'maxInFlightPerKey', 0);
  const ratePerMinute = positiveInteger(options.rateLimitPerMinute, 0, 'rateLimitPerMinute', 0);
  const maxMemory = positiveInteger(options.maxMemoryBytes, 0, 'maxMemoryBytes', 0);
  const registryPoll = positiveInteger(options.registryPollMs, DEFAULT_REGISTRY_POLL_MS, 'registryPollMs', 0);
  const trackerWindow = positiveInteger(options.trackerWindow, DEFAULT_TRACKER_WINDOW, 'trackerWindow', 2);
  const tls = options.tls;

  // --- API keys: refuse to run open unless asked to, loudly ---
  const specs: ApiKeySpec[] = [...(options.apiKeys ?? [])];
  if (options.keysFile !== undefined) specs.push(...(await readApiKeysFile(options.keysFile)));
  const envKeys = (options.env ?? process.env)[API_KEYS_ENV];
  if (envKeys !== undefined && envKeys.trim() !== '') specs.push(...parseApiKeysEnv(envKeys));
  const keys = new ApiKeyStore(specs);
  const insecure = options.insecureNoAuth === true;
  if (keys.size === 0 && !insecure) {
    throw new ConfigError(
      `no API keys configured: set ${API_KEYS_ENV} (e.g. 'KEY1:admin,KEY2:predict+read'), pass a keys file, or run with --insecure-no-auth`,
      { field: 'apiKeys' },
    );
  }
  if (keys.size > 0 && insecure) {
    throw new ConfigError('API keys are configured and --insecure-no-auth was given: choose one', {
      field: 'insecureNoAuth',
    });
  }

  // --- directories and the registry ---
  const registry =
    typeof options.registry === 'string'
      ? await ModelRegistry.open(options.registry, { create: true, ...options.registryOptions })
      : options.registry;
  const modelsDir =
    options.modelsDir === undefined ? undefined : await existingDirectory(options.modelsDir, 'modelsDir');
  const pythonDirs = await Promise.all(
    (options.pythonDirs ?? [BUNDLED_PYTHON_DIR]).map((d) => existingDirectory(d, 'pythonDirs')),
  );

  // --- logging ---
  const logStream =
    options.logger === false || options.logger?.stream !== undefined
      ? undefined
      : new BufferedLogStream(process.stdout);
  // Slow clients are cut by the header and request timeouts, checked every second (Node's default: every 30 s).
  const serverOptions = { headersTimeout, requestTimeout, connectionsCheckingInterval: 1000 };
  const transport =
    tls === undefined
      ? { http: serverOptions }
      : {
          ...(tls.http2 === true ? { http2: true as const } : {}),
          https: {
            ...serverOptions,
            cert: tls.cert,
            key: tls.key,
            ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
            ...(tls.requireClientCert === true ? { requestCert: true, rejectUnauthorized: true } : {}),
            ...(tls.http2 === true ? { allowHTTP1: true } : {}),
          },
        };
  const app = Fastify({
    ...transport,
    logger:
      options.logger === false
        ? false
        : {
            level: options.logger?.level ?? 'info',
            redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
            stream: options.logger?.stream ?? logStream,
          },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.bodyLimit,
    requestTimeout,
    // Socket inactivity, also while a handler works: longer than any handler may take. Slow clients meet the
    // header and request timeouts first.
    connectionTimeout: positiveInteger(
      options.connectionTimeoutMs,
      Math.max(limits.handlerTimeoutMs, limits.predictionTimeoutMs) + 5_000,
      'connectionTimeoutMs',
    ),
    keepAliveTimeout: 72_000,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // No type coercion: "1.5", null and "NaN" are not numbers. Unknown fields are refused, not dropped.
    ajv: {
      customOptions: {
        coerceTypes: false,
        removeAdditional: false,
        useDefaults: false,
        allErrors: false,
        allowUnionTypes: true,
      },
    },
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance; // the route code is the same over HTTP/1.1, HTTPS and HTTP/2
  const log = app.log;
  const coreLogger: Logger = {
    debug: (m, f) => log.debug(f ?? {}, m),
    info: (m, f) => log.info(f ?? {}, m),
    warn: (m, f) => log.warn(f ?? {}, m),
    error: (m, f) => log.error(f ?? {}, m),
  };

  // --- tracker and models ---
  let tracker: ServerTracker;
  try {
    tracker =
      options.tracker instanceof PredictionTracker
        ? options.tracker
        : typeof options.tracker === 'string'
          ? PredictionTracker.open(options.tracker, { logger: coreLogger, ...options.trackerOptions })
          : new TrackerWindow(trackerWindow, { logger: coreLogger, ...options.trackerOptions });
  } catch (err) {
    logStream?.close();
    throw err;
  }
  // The gauges read the pool and the tracker when scraped (they exist by then).
  const metrics = new ServerMetrics(
    () => pool.loaded(),
    (name) => pool.activeModel(name),
    () => tracker.driftStatus().length,
  );
  tracker.on('drift', (e) => {
    metrics.drift(e.modelVersion);
    log.warn({ model: e.modelVersion, symbol: e.symbol ?? null, accuracy: e.accuracy, window: e.window }, 'drift');
  });
  const pool = new ModelPool({
    registry,
    load: {
      cache: cacheSize,
      logger: coreLogger,
      python: {
        scriptDirs: pythonDirs,
        // The worker's own timeout (which restarts it) fires after the request has had its 504.
        requestTimeoutMs: limits.predictionTimeoutMs + 1000,
        ...(options.python !== undefined ? { python: options.python } : {}),
      },
    },
    maxPinned: positiveInteger(options.maxLoadedVersions, 8, 'maxLoadedVersions', 0),
    onLoad: (m, ms) => {
      metrics.modelLoaded(m.ref, ms);
      log.info({ model: m.ref, kind: m.predictor.meta.kind, ms: Math.round(ms) }, 'model loaded');
    },
    onDisposeError: (m, err) => log.error({ model: m.ref, err: describeError(err) }, 'model dispose failed'),
  });

  const rowsDecoder = new RowsDecoder(limits.maxBatch);
  const watcher = new RegistryWatcher(registry, pool, {
    intervalMs: registryPoll,
    onSwitch: (name, from, to) => log.info({ name, from, to }, 'active version changed in the registry: now serving'),
    onError: (name, err) =>
      log.error({ name, err: describeError(err) }, 'active version changed in the registry but cannot be served'),
  });

  const closeEarly = async () => {
    watcher.stop();
    await rowsDecoder.close();
    await pool.close();
    if (!(options.tracker instanceof PredictionTracker)) tracker.close();
    logStream?.close();
  };

  // --- the default model: loaded before the server accepts requests ---
  let defaultModel: ServerContext['defaultModel'] = null;
  try {
    let ref = options.defaultModel;
    if (ref === undefined) {
      const names = await registry.names();
      if (names.length === 1) ref = names[0];
    }
    if (ref !== undefined) {
      let parsed: ModelRef;
      try {
        parsed = parseModelRef(ref);
      } catch (err) {
        throw new ConfigError(`invalid default model '${ref}': ${describeError(err)}`, { field: 'defaultModel' });
      }
      try {
        await pool.resolve(parsed, 'defaultModel');
        defaultModel = { ref, parsed };
      } catch (err) {
        const reason = err instanceof ApiError ? err.message : describeError(err);
        if (options.defaultModel !== undefined) {
          throw new ConfigError(`default model '${ref}' cannot be served: ${reason}`, { field: 'defaultModel' });
        }
        log.warn({ model: ref, reason }, "the registry's only model cannot be loaded; no default model");
      }
    }
  } catch (err) {
    await closeEarly();
    throw err;
  }

  const ctx: ServerContext = {
    registry,
    pool,
    tracker,
    metrics,
    renderMetrics: options.renderMetrics ?? (() => metrics.render()),
    limits,
    instance: options.instance ?? null,
    memoryBudget: maxMemory === 0 ? null : maxMemory,
    defaultModel,
    sourceRoots: { modelsDir, registryRoot: registry.root },
    pythonDirs,
    startedAt: new Date(),
    auth: insecure ? 'disabled' : 'api-keys',
    log,
  };

  // --- hooks: authentication, one log line and metrics per request ---
  // JSON only: any other content type (fastify also parses text/plain by default) is a 415.
  app.removeContentTypeParser('text/plain');
  app.removeContentTypeParser('application/json');
  // Parsing a big body holds the event loop for milliseconds (about 5 ms per MB): big bodies are parsed one per
  // turn, so other requests (/health, small predictions) get in between instead of waiting behind all of them.
  // Big batches of rows are decoded on a worker thread (rows-decoder.ts).
  const bigBodies = new SerialQueue();
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer' },
    async (request: { routeOptions: { url?: string } }, bytes: Buffer) => {
      if (bytes.length < BIG_BODY_BYTES) return parseJsonBody(bytes.toString('utf8'));
      if (request.routeOptions.url === PREDICT_ROUTE) {
        const decoded = await rowsDecoder.decode(bytes);
        if (decoded.kind === 'rows') return { ...decoded.rest, [DECODED_ROWS]: decoded.rows };
        if (decoded.kind === 'refused') {
          const { code, message, field } = decoded.error.error;
          throw new ApiError(decoded.status, code, message, field);
        }
      }
      const text = bytes.toString('utf8');
      return bigBodies.run(async () => {
        await nextTurn();
        return parseJsonBody(text);
      });
    },
  );
  app.decorateRequest('keyLabel', '');
  app.addHook('onRequest', async (request) => {
    const scope = request.routeOptions.config?.scope;
    if (scope === undefined) return;
    if (insecure) {
      request.keyLabel = 'anonymous';
      return;
    }
    const presented = presentedKey(request.headers);
    if (presented === undefined) {
      throw new ApiError(
        401,
        'UNAUTHORIZED',
        'an API key is required: send Authorization: Bearer KEY or X-API-Key: KEY',
        'authorization',
      );
    }
    const entry = keys.find(presented);
    if (entry === undefined) throw new ApiError(401, 'UNAUTHORIZED', 'unknown API key', 'authorization');
    request.keyLabel = entry.label;
    if (!hasScope(entry, scope)) {
      throw new ApiError(403, 'FORBIDDEN', `API key '${entry.label}' lacks the '${scope}' scope`, 'authorization');
    }
  });

  // Which process of a cluster answered: every response says so.
  const instance = options.instance;
  if (instance !== undefined) {
    app.addHook('onRequest', async (_request, reply) => {
      reply.header('x-quantflow-instance', instance);
    });
  }

  // --- limits: requests in progress per key, requests per minute per key, the memory budget ---
  if (maxInFlight > 0) {
    const inFlight = new Map<string, number>();
    app.addHook('onRequest', async (request, reply) => {
      const label = request.keyLabel;
      if (label === '') return;
      const n = inFlight.get(label) ?? 0;
      if (n >= maxInFlight) {
        throw new ApiError(
          429,
          'TOO_MANY_IN_FLIGHT',
          `API key '${label}' already has ${n} requests in progress (server option --max-in-flight); wait for answers before sending more`,
          'authorization',
        );
      }
      inFlight.set(label, n + 1);
      // 'close' fires once whether the response finished or the client went away.
      reply.raw.once('close', () => {
        const left = (inFlight.get(label) ?? 1) - 1;
        if (left === 0) inFlight.delete(label);
        else inFlight.set(label, left);
      });
    });
  }
  if (ratePerMinute > 0) {
    await app.register(rateLimit, {
      global: true,
      max: ratePerMinute,
      timeWindow: 60_000,
      // Keys, not addresses: many bots may share one address, one key may come from many.
      keyGenerator: (request) => (request.keyLabel === '' ? `ip:${request.ip}` : `key:${request.keyLabel}`),
      allowList: (request) => request.routeOptions.config?.scope === undefined,
      errorResponseBuilder: (request, context) =>
        new ApiError(
          429,
          'RATE_LIMITED',
          `API key '${request.keyLabel || 'none'}' exceeded ${context.max} requests per minute (server option --rate-limit); retry in ${Math.ceil(context.ttl / 1000)} s`,
          'authorization',
        ),
    });
  }
  if (maxMemory > 0) {
    await app.register(underPressure, {
      maxRssBytes: maxMemory,
      retryAfter: 10,
      // A rejection goes to the error handler (our error body); /health always answers, reporting the memory.
      pressureHandler: async (request, reply, _type, value) => {
        if (request.routeOptions.url === '/health') return;
        reply.header('retry-after', 10);
        throw new ApiError(
          503,
          'OVER_MEMORY_BUDGET',
          `the server's resident memory (${Math.round(Number(value) / 2 ** 20)} MiB) is over its budget of ${Math.round(maxMemory / 2 ** 20)} MiB (server option --max-memory); retry later`,
        );
      },
    });
  }

  const infoEnabled = options.logger !== false && ['trace', 'debug', 'info'].includes(options.logger?.level ?? 'info');
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    const ms = reply.elapsedTime;
    metrics.observeRequest(request.method, route, status, ms / 1000);
    if (infoEnabled) {
      log.info(
        {
          reqId: request.id,
          method: request.method,
          route,
          ...(route === 'unmatched' ? { url: request.url.slice(0, 200) } : {}),
          status,
          ms: Math.round(ms * 100) / 100,
          key: request.keyLabel === '' ? null : request.keyLabel,
        },
        'request',
      );
    }
  });

  app.setErrorHandler((err, request, reply) => {
    const apiError = toApiError(err, limits);
    if (apiError.status >= 500) {
      log.error(
        { reqId: request.id, route: request.routeOptions.url, err: describeError(err), stack: (err as Error)?.stack },
        'request failed',
      );
    }
    if (apiError.status === 401) reply.header('www-authenticate', 'Bearer');
    return reply.code(apiError.status).send(apiError.body());
  });

  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(
        new ApiError(404, 'NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]!.slice(0, 200)}`).body(),
      ),
  );

  registerOpsRoutes(app, ctx);
  registerPredictRoute(app, ctx);
  registerModelRoutes(app, ctx);
  try {
    await app.ready();
  } catch (err) {
    await closeEarly();
    throw err;
  }

  // --- start-up summary (never the keys, only their labels) ---
  if (insecure) {
    log.warn(
      { auth: 'disabled' },
      '!!! AUTHENTICATION IS DISABLED (--insecure-no-auth): anyone who can reach this server can register, promote and delete models and read statistics. Use only on a trusted machine. !!!',
    );
  } else {
    log.info({ keys: keys.describe() }, 'API keys loaded');
    if (keys.weak.length > 0) {
      log.warn({ keys: keys.weak }, `API keys shorter than 16 characters are easy to guess; use long random keys`);
    }
  }
  if (!registry.signed) {
    log.warn(
      { registry: registry.root },
      'the registry is not signed: anyone who can write its directory can change a model and fix every checksum; use a signed registry (quantflow models keygen, models register --sign) in production',
    );
  }
  log.info(
    {
      registry: registry.root,
      signed: registry.signed,
      encrypted: registry.encrypted,
      modelsDir: modelsDir ?? null,
      pythonDirs,
      defaultModel: defaultModel?.ref ?? null,
      tracker: tracker.file ?? `in memory, last ${trackerWindow} predictions`,
      ...limits,
      cacheSize,
      headersTimeoutMs: headersTimeout,
      requestTimeoutMs: requestTimeout,
      maxInFlightPerKey: maxInFlight,
      rateLimitPerMinute: ratePerMinute,
      maxMemoryBytes: maxMemory,
      registryPollMs: registryPoll,
      tls: tls === undefined ? false : { http2: tls.http2 === true, clientCerts: tls.requireClientCert === true },
    },
    'quantflow server ready',
  );
  watcher.start();

  let url: string | undefined;
  let closing: Promise<void> | undefined;
  return {
    app,
    registry,
    pool,
    tracker,
    metrics,
    limits,
    get url() {
      return url;
    },
    async listen(opts: ListenOptions = {}): Promise<string> {
      const host = opts.host ?? DEFAULT_HOST;
      if (tls === undefined && !isLoopback(host)) {
        if (options.insecurePlaintext !== true) {
          throw new ConfigError(
            `refusing plain HTTP on ${host}, which is not a loopback address: API keys would cross the network in clear. Give --tls-cert and --tls-key, or --insecure-plaintext if a TLS-terminating proxy sits in front on a trusted network`,
            { field: 'host' },
          );
        }
        log.warn({ host }, 'plain HTTP on a non-loopback address (--insecure-plaintext): API keys travel in clear');
      }
      await app.listen({ port: opts.port ?? DEFAULT_PORT, host });
      const address = app.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : (opts.port ?? DEFAULT_PORT);
      const shownHost = host.includes(':') ? `[${host}]` : host;
      const scheme = tls === undefined ? 'http' : 'https';
      url = `${scheme}://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost === '[::]' ? '[::1]' : shownHost}:${port}`;
      log.info({ url, host, port }, 'listening');
      return url;
    },
    close(): Promise<void> {
      if (closing === undefined) {
        closing = (async () => {
          log.info('shutting down: finishing requests in flight');
          watcher.stop();
          await app.close(); // stops accepting; waits for requests in flight
          await rowsDecoder.close();
          await pool.close(); // disposes models (stops Python workers)
          if (!(options.tracker instanceof PredictionTracker)) tracker.close();
          log.info('shut down');
          logStream?.close();
        })();
      }
      return closing;
    },
  };
}
