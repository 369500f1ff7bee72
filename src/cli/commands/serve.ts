/**
 * `quantflow serve`: the HTTP API (see src/server) until SIGINT or SIGTERM.
 *
 *   quantflow serve [--port 8080] [--host 127.0.0.1] [--registry DIR] [--models-dir DIR]
 *     [--python-dir DIR...] [--keys FILE] [--default-model REF] [--tracker FILE | --tracker-window N]
 *     [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE] [--http2]] [--insecure-plaintext]
 *     [--workers N] [--body-limit BYTES] [--max-batch N] [--cache N] [--prediction-timeout MS]
 *     [--headers-timeout MS] [--request-timeout MS] [--rate-limit N] [--max-in-flight N]
 *     [--max-memory MB] [--registry-poll MS] [--drift-window N --drift-min-accuracy X]
 *     [--log-level info] [--insecure-no-auth]
 *
 * API keys come from QUANTFLOW_API_KEYS ('KEY:admin,KEY2:predict+read') and/or
 * --keys FILE; without any the server refuses to start unless
 * --insecure-no-auth. Plain HTTP is refused on a non-loopback --host unless
 * --insecure-plaintext. Logs are JSON lines on stdout (keys are never logged,
 * only their labels). The first signal finishes the requests in flight and
 * stops Python workers; a second one, or 15 s without finishing, exits at
 * once. With --workers N the process supervises N servers on one port
 * (src/server/cluster.ts); SIGHUP then restarts them one at a time.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { createJsonLogger } from '../../core/logger.js';
import { clusterWorkerId, isClusterWorker, joinCluster, runPrimary } from '../../server/cluster.js';
import { createServer, DEFAULT_HOST, DEFAULT_PORT, type ServerLogLevel } from '../../server/index.js';
import {
  DEFAULT_CACHE_SIZE,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_MAX_BATCH,
  DEFAULT_MAX_IN_FLIGHT_PER_KEY,
  DEFAULT_PREDICTION_TIMEOUT_MS,
  DEFAULT_REGISTRY_POLL_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type ServerOptions,
  type ServerTlsOptions,
} from '../../server/server.js';
import { DEFAULT_TRACKER_WINDOW } from '../../server/tracker-window.js';
import { action, integerOption } from '../action.js';
import { registryOptionHelp, registryRoot } from '../registry-option.js';

const SHUTDOWN_DEADLINE_MS = 15_000;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

interface ServeOptions {
  port: number;
  host: string;
  registry?: string;
  modelsDir?: string;
  pythonDir?: string[];
  keys?: string;
  defaultModel?: string;
  tracker?: string;
  trackerWindow: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  http2?: boolean;
  insecurePlaintext?: boolean;
  workers: number;
  bodyLimit?: number;
  maxBatch: number;
  cache: number;
  predictionTimeout: number;
  headersTimeout: number;
  requestTimeout: number;
  rateLimit: number;
  maxInFlight: number;
  maxMemory?: number;
  registryPoll: number;
  driftWindow?: number;
  driftMinAccuracy?: string;
  logLevel: string;
  insecureNoAuth?: boolean;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the HTTP API: model registry management, predictions, tracker statistics, health and metrics')
    .option('--port <n>', 'TCP port (0 = any free port)', integerOption('port', 0, 65535), DEFAULT_PORT)
    .option('--host <addr>', 'address to listen on (not loopback: needs TLS or --insecure-plaintext)', DEFAULT_HOST)
    .option('--registry <dir>', registryOptionHelp('model registry'))
    .option('--models-dir <dir>', 'directory models may be registered from over the API (relative paths resolve here)')
    .option(
      '--python-dir <dir...>',
      "directories Python model scripts may run from (replaces the default: the bundled scripts' directory)",
    )
    .option('--keys <file>', 'JSON file of API keys: {"keys": [{"id", "sha256" | "key", "scopes"}]}')
    .option('--default-model <ref>', "model for predictions that name none (default: the registry's only model)")
    .option('--tracker <file>', 'record predictions made from candles in this JSON-lines file (default: in memory)')
    .option(
      '--tracker-window <n>',
      'predictions the in-memory tracker keeps (statistics cover the last half to all of them)',
      integerOption('tracker-window', 2),
      DEFAULT_TRACKER_WINDOW,
    )
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM; with --tls-key)')
    .option('--tls-key <file>', 'private key of --tls-cert (PEM)')
    .option('--tls-client-ca <file>', 'require client certificates signed by these authorities (mutual TLS, PEM)')
    .option('--http2', 'serve HTTP/2 over TLS (HTTP/1.1 clients still work)')
    .option('--insecure-plaintext', 'allow plain HTTP on a non-loopback --host (a TLS proxy in front, trusted network)')
    .option(
      '--workers <n>',
      'server processes behind the port (SIGHUP restarts them one at a time)',
      integerOption('workers', 1, 64),
      1,
    )
    .option(
      '--body-limit <bytes>',
      'largest request body (default: 1 MiB, or 512 bytes per --max-batch row if more)',
      integerOption('body-limit', 64),
    )
    .option(
      '--max-batch <n>',
      'most rows or candles per predict request',
      integerOption('max-batch', 1),
      DEFAULT_MAX_BATCH,
    )
    .option(
      '--cache <n>',
      'LRU cache entries of single-row predictions per model (0 = off)',
      integerOption('cache', 0),
      DEFAULT_CACHE_SIZE,
    )
    .option(
      '--prediction-timeout <ms>',
      'longest a prediction may take before the request fails with 504',
      integerOption('prediction-timeout', 1),
      DEFAULT_PREDICTION_TIMEOUT_MS,
    )
    .option(
      '--headers-timeout <ms>',
      'a client must send its request headers within this time (408)',
      integerOption('headers-timeout', 1),
      DEFAULT_HEADERS_TIMEOUT_MS,
    )
    .option(
      '--request-timeout <ms>',
      'a client must send its whole request, body included, within this time (408)',
      integerOption('request-timeout', 1),
      DEFAULT_REQUEST_TIMEOUT_MS,
    )
    .option(
      '--rate-limit <n>',
      'requests per API key per minute (0 = no limit; 429 above)',
      integerOption('rate-limit', 0),
      0,
    )
    .option(
      '--max-in-flight <n>',
      'requests one API key may have in progress (0 = no limit; 429 above)',
      integerOption('max-in-flight', 0),
      DEFAULT_MAX_IN_FLIGHT_PER_KEY,
    )
    .option(
      '--max-memory <mb>',
      'resident memory budget per process: above it requests get 503 (/health still answers)',
      integerOption('max-memory', 1),
    )
    .option(
      '--registry-poll <ms>',
      "how often each served model's registry index is checked for promotions made elsewhere (0 = never)",
      integerOption('registry-poll', 0),
      DEFAULT_REGISTRY_POLL_MS,
    )
    .option(
      '--drift-window <n>',
      'drift events: rolling accuracy over this many resolved predictions',
      integerOption('drift-window', 1),
    )
    .option('--drift-min-accuracy <x>', 'drift events: fire when the rolling accuracy falls below this (default 0.5)')
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')}`, 'info')
    .option('--insecure-no-auth', 'serve WITHOUT API keys (anyone who can connect may manage models)')
    .action(
      action(async (opts: ServeOptions) => {
        if (!LOG_LEVELS.includes(opts.logLevel)) {
          throw new InvalidArgumentError(`--log-level expects one of ${LOG_LEVELS.join(', ')}, got '${opts.logLevel}'`);
        }
        const options = serverOptions(opts);
        if (opts.workers > 1 && !isClusterWorker()) return runCluster(opts);
        await serveOne(opts, options);
      }),
    );
}

function readPem(file: string, option: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(`cannot read ${option} (${(err as Error).message})`, { file, field: option }, { cause: err });
  }
}

function tlsOptions(opts: ServeOptions): ServerTlsOptions | undefined {
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
    throw new ConfigError('--tls-cert and --tls-key go together', {
      field: opts.tlsCert === undefined ? 'tls-cert' : 'tls-key',
    });
  }
  if (opts.tlsCert === undefined || opts.tlsKey === undefined) {
    if (opts.tlsClientCa !== undefined || opts.http2 === true) {
      throw new ConfigError('--tls-client-ca and --http2 need --tls-cert and --tls-key', { field: 'tls-cert' });
    }
    return undefined;
  }
  return {
    cert: readPem(opts.tlsCert, '--tls-cert'),
    key: readPem(opts.tlsKey, '--tls-key'),
    ...(opts.tlsClientCa !== undefined
      ? { ca: readPem(opts.tlsClientCa, '--tls-client-ca'), requireClientCert: true }
      : {}),
    ...(opts.http2 === true ? { http2: true } : {}),
  };
}

function driftOptions(opts: ServeOptions): ServerOptions['trackerOptions'] {
  if (opts.driftWindow === undefined) {
    if (opts.driftMinAccuracy !== undefined) {
      throw new ConfigError('--drift-min-accuracy needs --drift-window', { field: 'drift-window' });
    }
    return undefined;
  }
  const minAccuracy = opts.driftMinAccuracy === undefined ? 0.5 : Number(opts.driftMinAccuracy);
  if (!(minAccuracy >= 0 && minAccuracy <= 1)) {
    throw new ConfigError(`--drift-min-accuracy expects a number in [0, 1], got '${opts.driftMinAccuracy}'`, {
      field: 'drift-min-accuracy',
    });
  }
  return { drift: { window: opts.driftWindow, minAccuracy } };
}

function serverOptions(opts: ServeOptions): ServerOptions {
  const tls = tlsOptions(opts);
  const drift = driftOptions(opts);
  return {
    registry: registryRoot(opts.registry),
    ...(opts.modelsDir !== undefined ? { modelsDir: opts.modelsDir } : {}),
    ...(opts.pythonDir !== undefined ? { pythonDirs: opts.pythonDir } : {}),
    ...(opts.keys !== undefined ? { keysFile: opts.keys } : {}),
    ...(opts.defaultModel !== undefined ? { defaultModel: opts.defaultModel } : {}),
    ...(opts.tracker !== undefined ? { tracker: opts.tracker } : {}),
    ...(drift !== undefined ? { trackerOptions: drift } : {}),
    ...(tls !== undefined ? { tls } : {}),
    ...(opts.bodyLimit !== undefined ? { bodyLimit: opts.bodyLimit } : {}),
    ...(opts.maxMemory !== undefined ? { maxMemoryBytes: opts.maxMemory * 2 ** 20 } : {}),
    insecurePlaintext: opts.insecurePlaintext === true,
    trackerWindow: opts.trackerWindow,
    maxBatch: opts.maxBatch,
    cacheSize: opts.cache,
    predictionTimeoutMs: opts.predictionTimeout,
    headersTimeoutMs: opts.headersTimeout,
    requestTimeoutMs: opts.requestTimeout,
    rateLimitPerMinute: opts.rateLimit,
    maxInFlightPerKey: opts.maxInFlight,
    registryPollMs: opts.registryPoll,
    insecureNoAuth: opts.insecureNoAuth === true,
    logger: { level: opts.logLevel as ServerLogLevel },
  };
}

/** The primary of `--workers N`: supervises, never serves. */
async function runCluster(opts: ServeOptions): Promise<void> {
  if (opts.tracker !== undefined) {
    throw new ConfigError(
      '--tracker FILE takes one process (a journal has one writer); with --workers use the in-memory tracker',
      {
        field: 'tracker',
      },
    );
  }
  const json = createJsonLogger(opts.logLevel === 'silent' ? 'silent' : 'info', (line) => process.stdout.write(line));
  const log = {
    info: (m: string, f?: Record<string, unknown>) => json.info(m, { role: 'primary', ...f }),
    warn: (m: string, f?: Record<string, unknown>) => json.warn(m, { role: 'primary', ...f }),
    error: (m: string, f?: Record<string, unknown>) => json.error(m, { role: 'primary', ...f }),
  };
  await runPrimary({
    workers: opts.workers,
    log,
    stopDeadlineMs: SHUTDOWN_DEADLINE_MS,
    onListening: (url) => process.stderr.write(`quantflow serve: listening on ${url} (${opts.workers} workers)\n`),
  });
}

/** One server: the whole of `serve` without --workers, or one worker of a cluster. */
async function serveOne(opts: ServeOptions, options: ServerOptions): Promise<void> {
  const worker = isClusterWorker();
  let hooks: ReturnType<typeof joinCluster> | undefined;
  const server = await createServer({
    ...options,
    ...(worker
      ? {
          instance: `worker ${clusterWorkerId()}`,
          renderMetrics: () => (hooks as ReturnType<typeof joinCluster>).clusterMetrics(),
        }
      : {}),
  });
  let url: string;
  try {
    url = await server.listen({ port: opts.port, host: opts.host });
  } catch (err) {
    await server.close();
    throw err;
  }
  if (worker) {
    const stopped = new Promise<void>((resolve) => {
      hooks = joinCluster(server.metrics.registry, () => server.close().then(resolve));
    });
    hooks!.ready(url);
    await stopped;
    return;
  }
  // For people (and scripts using --port 0), whatever the log level; the JSON logs stay on stdout.
  process.stderr.write(`quantflow serve: listening on ${url}\n`);
  await new Promise<void>((resolve) => {
    let first: number | undefined;
    const stop = (signal: NodeJS.Signals) => {
      if (first !== undefined) {
        // The same Ctrl-C often arrives twice (from the terminal and relayed by a wrapper such as tsx).
        if (Date.now() - first < 1000) return;
        server.app.log.warn({ signal }, 'second signal: exiting without waiting');
        process.exit(130);
      }
      first = Date.now();
      server.app.log.info({ signal }, 'signal received');
      const deadline = setTimeout(() => {
        server.app.log.error({ ms: SHUTDOWN_DEADLINE_MS }, 'shutdown took too long: closing connections');
        server.app.server.closeAllConnections();
        setTimeout(() => process.exit(1), 1000).unref();
      }, SHUTDOWN_DEADLINE_MS);
      deadline.unref();
      server.close().then(
        () => {
          clearTimeout(deadline);
          resolve();
        },
        (err: unknown) => {
          server.app.log.error({ err: String(err) }, 'shutdown failed');
          process.exitCode = 1;
          resolve();
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
