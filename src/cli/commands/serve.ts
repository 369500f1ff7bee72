/**
 * `quantflow serve`: the HTTP API (see src/server) until SIGINT or SIGTERM.
 *
 *   quantflow serve [--port 8080] [--host 127.0.0.1] [--registry DIR] [--models-dir DIR]
 *     [--python-dir DIR...] [--keys FILE] [--default-model REF] [--tracker FILE]
 *     [--body-limit BYTES] [--max-batch N] [--cache N] [--prediction-timeout MS]
 *     [--log-level info] [--insecure-no-auth]
 *
 * API keys come from QUANTFLOW_API_KEYS ('KEY:admin,KEY2:predict+read') and/or
 * --keys FILE; without any the server refuses to start unless
 * --insecure-no-auth. Logs are JSON lines on stdout (keys are never logged,
 * only their labels). The first signal finishes the requests in flight and
 * stops Python workers; a second one, or 15 s without finishing, exits at once.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { createServer, DEFAULT_HOST, DEFAULT_PORT, type ServerLogLevel } from '../../server/index.js';
import {
  DEFAULT_BODY_LIMIT,
  DEFAULT_CACHE_SIZE,
  DEFAULT_MAX_BATCH,
  DEFAULT_PREDICTION_TIMEOUT_MS,
} from '../../server/server.js';
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
  bodyLimit: number;
  maxBatch: number;
  cache: number;
  predictionTimeout: number;
  logLevel: string;
  insecureNoAuth?: boolean;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the HTTP API: model registry management, predictions, tracker statistics, health and metrics')
    .option('--port <n>', 'TCP port (0 = any free port)', integerOption('port', 0, 65535), DEFAULT_PORT)
    .option('--host <addr>', 'address to listen on', DEFAULT_HOST)
    .option('--registry <dir>', registryOptionHelp('model registry'))
    .option('--models-dir <dir>', 'directory models may be registered from over the API (relative paths resolve here)')
    .option(
      '--python-dir <dir...>',
      "directories Python model scripts may run from (replaces the default: the bundled scripts' directory)",
    )
    .option('--keys <file>', 'JSON file of API keys: {"keys": [{"id", "sha256" | "key", "scopes"}]}')
    .option('--default-model <ref>', "model for predictions that name none (default: the registry's only model)")
    .option('--tracker <file>', 'record predictions made from candles in this JSON-lines file (default: in memory)')
    .option('--body-limit <bytes>', 'largest request body', integerOption('body-limit', 64), DEFAULT_BODY_LIMIT)
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
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')}`, 'info')
    .option('--insecure-no-auth', 'serve WITHOUT API keys (anyone who can connect may manage models)')
    .action(
      action(async (opts: ServeOptions) => {
        if (!LOG_LEVELS.includes(opts.logLevel)) {
          throw new InvalidArgumentError(`--log-level expects one of ${LOG_LEVELS.join(', ')}, got '${opts.logLevel}'`);
        }
        const server = await createServer({
          registry: registryRoot(opts.registry),
          ...(opts.modelsDir !== undefined ? { modelsDir: opts.modelsDir } : {}),
          ...(opts.pythonDir !== undefined ? { pythonDirs: opts.pythonDir } : {}),
          ...(opts.keys !== undefined ? { keysFile: opts.keys } : {}),
          ...(opts.defaultModel !== undefined ? { defaultModel: opts.defaultModel } : {}),
          ...(opts.tracker !== undefined ? { tracker: opts.tracker } : {}),
          bodyLimit: opts.bodyLimit,
          maxBatch: opts.maxBatch,
          cacheSize: opts.cache,
          predictionTimeoutMs: opts.predictionTimeout,
          insecureNoAuth: opts.insecureNoAuth === true,
          logger: { level: opts.logLevel as ServerLogLevel },
        });
        const stopped = new Promise<void>((resolve) => {
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
        let url: string;
        try {
          url = await server.listen({ port: opts.port, host: opts.host });
        } catch (err) {
          await server.close();
          throw err;
        }
        // For people (and scripts using --port 0), whatever the log level; the JSON logs stay on stdout.
        process.stderr.write(`quantflow serve: listening on ${url}\n`);
        await stopped;
      }),
    );
}
