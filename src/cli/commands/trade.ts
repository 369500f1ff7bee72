/**
 * `quantflow paper` and `quantflow live`: one module, one runner
 * (src/exchange/trading-runner.ts); they differ only in the broker.
 *
 *   quantflow paper --exchange ID --symbol S [--symbol S2] --timeframe TF
 *     (--strategy sma [--fast N --slow N] | --model NAME[@v] [--registry DIR] [--threshold X] [--tracker FILE])
 *     [--cash 10000] [--fee R] [--slippage-bps B] [--fraction F] [--journal FILE]
 *     [--max-daily-loss X] [--max-drawdown X] [--replayed-decisions act|halt] [--sandbox] ...
 *   quantflow live ... --i-understand-this-trades-real-money
 *
 * Credentials come only from the environment (QUANTFLOW_API_KEY,
 * QUANTFLOW_API_SECRET, QUANTFLOW_API_PASSWORD, or QUANTFLOW_<EXCHANGE>_API_KEY
 * ...); there is deliberately no option for them. ccxt (2-3 s to import) and
 * the model code are loaded only inside the action.
 *
 * One status line per processed candle goes to stdout; JSON log lines
 * (warnings and errors, info with --verbose) to stderr. SIGINT / SIGTERM stop
 * gracefully (no new orders, state saved, open orders cancelled with
 * --cancel-on-exit); a second signal exits at once, and so does the process
 * STOP_GRACE_MS (10 s) after the first whatever is still open (a stuck
 * request or socket), the journal holding the last saved state.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '../../core/errors.js';
import type { PredictionSink } from '../../core/prediction.js';
import type { Strategy } from '../../core/strategy.js';
import { action, integerOption, numberOption } from '../action.js';
import { registryOptionHelp, registryRoot } from '../registry-option.js';

export const LIVE_CONFIRM_FLAG = '--i-understand-this-trades-real-money';

/** After SIGINT / SIGTERM the process ends within this, stopped gracefully or not. */
export const STOP_GRACE_MS = 10_000;
/** Testing hook: a shorter STOP_GRACE_MS (ms). */
export const STOP_GRACE_ENV = 'QUANTFLOW_STOP_GRACE_MS';

export interface TradeCommandOptions {
  exchange: string;
  symbol: string[];
  timeframe: string;
  strategy?: string;
  fast: number;
  slow: number;
  model?: string;
  registry?: string;
  threshold?: number;
  fraction?: number;
  stopLoss?: number;
  takeProfit?: number;
  maxHold?: number;
  tracker?: string;
  cash?: number;
  fee?: number;
  slippageBps?: number;
  journal?: string;
  maxDailyLoss?: number;
  maxDrawdown?: number;
  resetKillSwitch?: boolean;
  sandbox?: boolean;
  warmup?: number;
  pollMs?: number;
  websocket: boolean;
  ticks: boolean;
  cancelOnExit?: boolean;
  onMismatch: string;
  confirmReconciliation?: boolean;
  replayedDecisions: string;
  maxJump?: number;
  timeoutMs?: number;
  exchangeOptions?: string;
  orderIdNamespace?: string;
  verbose?: boolean;
  iUnderstandThisTradesRealMoney?: boolean;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A loss limit: a fraction (0.05) or a percentage ('5%'). */
function fractionOption(name: string): (value: string) => number {
  return (value: string) => {
    const text = value.trim();
    const n = text.endsWith('%') ? Number(text.slice(0, -1)) / 100 : Number(text);
    if (text === '' || !Number.isFinite(n) || !(n > 0 && n < 1)) {
      throw new InvalidArgumentError(
        `--${name} expects a fraction such as 0.05 or a percentage such as 5%, got '${value}'`,
      );
    }
    return n;
  };
}

function addOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--exchange <id>', 'ccxt exchange id (binance, kraken, okx, ...)')
    .requiredOption('--symbol <symbol>', 'market to trade, e.g. BTC/USDT (repeat for several)', collect)
    .requiredOption('--timeframe <tf>', 'candle timeframe, e.g. 1m, 15m, 1h')
    .option('--strategy <name>', 'sma (SMA crossover baseline); use --model for the ML strategy')
    .option('--fast <n>', 'sma: fast period', integerOption('fast', 1), 10)
    .option('--slow <n>', 'sma: slow period', integerOption('slow', 2), 30)
    .option('--model <ref>', 'ML strategy with a registered model NAME[@version]')
    .option('--registry <dir>', registryOptionHelp('model registry of --model'))
    .option('--threshold <x>', 'ml: minimum confidence |p - 0.5| * 2 to trade (default 0.6)', numberOption('threshold'))
    .option(
      '--fraction <f>',
      'position size per symbol as a fraction of equity (default sma 1/symbols, ml 0.1)',
      numberOption('fraction'),
    )
    .option('--stop-loss <x>', 'ml: exit at this loss as a fraction of the entry price', numberOption('stop-loss'))
    .option('--take-profit <x>', 'ml: exit at this gain as a fraction', numberOption('take-profit'))
    .option('--max-hold <n>', 'ml: exit after this many candles in a position', integerOption('max-hold', 1))
    .option(
      '--tracker <file>',
      'ml: record every prediction and outcome in this JSON-lines tracker file (continued on restart)',
    )
    .option(
      '--cash <amount>',
      'paper: virtual starting balance (default 10000); live: most quote currency to use',
      numberOption('cash'),
    )
    .option('--fee <rate>', 'paper: fee per fill (default: the exchange taker fee)', numberOption('fee'))
    .option('--slippage-bps <bps>', 'paper: slippage on market orders (default 5)', numberOption('slippage-bps'))
    .option('--journal <file>', 'state journal (default .quantflow/trading/<mode>-<exchange>-<symbols>-<tf>.json)')
    .option(
      '--max-daily-loss <x>',
      'kill switch: no new entries after this loss since the UTC day began (0.05 or 5%)',
      fractionOption('max-daily-loss'),
    )
    .option(
      '--max-drawdown <x>',
      'kill switch: no new entries after this drawdown from the equity peak',
      fractionOption('max-drawdown'),
    )
    .option('--reset-kill-switch', 'lift a tripped kill switch at start')
    .option('--sandbox', "use the exchange's testnet (ccxt setSandboxMode)")
    .option(
      '--warmup <n>',
      'history candles per symbol before trading (default: what the strategy needs, at least 300; less is refused)',
      integerOption('warmup', 0),
    )
    .option('--poll-ms <ms>', 'REST poll interval (default min(5 s, timeframe / 12))', integerOption('poll-ms', 10))
    .option('--no-websocket', 'poll REST only, even when the exchange has websockets')
    .option('--no-ticks', 'do not feed ticks between candles')
    .option('--cancel-on-exit', 'cancel open orders when stopping')
    .option(
      '--on-mismatch <policy>',
      'live restart, exchange disagrees with the journal: halt or adopt-exchange',
      'halt',
    )
    .option('--confirm-reconciliation', 'live restart: accept the reported differences and adopt the exchange state')
    .option(
      '--replayed-decisions <policy>',
      'restart, a decision fell on a missed candle: act on it at the newest candle, or halt',
      'act',
    )
    .option(
      '--max-jump <ranges>',
      'skip and report a candle whose prices jump more than this many recent ranges (default 50)',
      numberOption('max-jump'),
    )
    .option('--timeout-ms <ms>', 'exchange request timeout (default 10000)', integerOption('timeout-ms', 100))
    .option(
      '--exchange-options <json>',
      'extra ccxt exchange options as JSON, e.g. \'{"fetchMarkets":{"types":["spot"]}}\'',
    )
    .option('--order-id-namespace <text>', 'mixed into client order ids (two bots with one strategy on one account)')
    .option('--verbose', 'info log lines on stderr');
}

export function register(program: Command): void {
  addOptions(
    program
      .command('paper')
      .description('paper trading: live ccxt market data, simulated fills (fees, slippage), virtual balance, journal'),
  ).action(action((opts: TradeCommandOptions) => runTradeCommand('paper', opts)));
  addOptions(
    program.command('live').description(`live trading through ccxt with real orders (needs ${LIVE_CONFIRM_FLAG})`),
  )
    .option(LIVE_CONFIRM_FLAG, 'confirm that this sends real orders with real money')
    .action(action((opts: TradeCommandOptions) => runTradeCommand('live', opts)));
}

function defaultJournal(mode: string, exchange: string, symbols: readonly string[], timeframe: string): string {
  const name = [mode, exchange, ...symbols, timeframe].join('-').replace(/[^A-Za-z0-9._-]+/g, '-');
  return path.join('.quantflow', 'trading', `${name}.json`);
}

async function runTradeCommand(mode: 'paper' | 'live', opts: TradeCommandOptions): Promise<void> {
  if (mode === 'live' && opts.iUnderstandThisTradesRealMoney !== true) {
    throw new ConfigError(
      `live trading places real orders with real money: add ${LIVE_CONFIRM_FLAG} to confirm (try 'quantflow paper' first, or --sandbox for a testnet)`,
    );
  }
  if (mode === 'live' && (opts.fee !== undefined || opts.slippageBps !== undefined)) {
    throw new ConfigError(
      '--fee and --slippage-bps apply to paper trading; live trading pays what the exchange charges',
    );
  }
  if (opts.onMismatch !== 'halt' && opts.onMismatch !== 'adopt-exchange') {
    throw new ConfigError(`--on-mismatch must be halt or adopt-exchange, got '${opts.onMismatch}'`, {
      field: 'on-mismatch',
    });
  }
  if (opts.replayedDecisions !== 'act' && opts.replayedDecisions !== 'halt') {
    throw new ConfigError(`--replayed-decisions must be act or halt, got '${opts.replayedDecisions}'`, {
      field: 'replayed-decisions',
    });
  }
  if (opts.maxJump !== undefined && !(opts.maxJump > 0)) {
    throw new ConfigError(`--max-jump must be a positive number of ranges, got ${opts.maxJump}`, { field: 'max-jump' });
  }
  if ((opts.model === undefined) === (opts.strategy === undefined)) {
    throw new ConfigError('give either --strategy sma or --model NAME[@version]', { field: 'strategy' });
  }
  if (opts.strategy !== undefined && opts.strategy !== 'sma') {
    throw new ConfigError(`unknown strategy '${opts.strategy}' (sma; or --model for the ML strategy)`, {
      field: 'strategy',
    });
  }
  if (opts.tracker !== undefined && opts.model === undefined) {
    throw new ConfigError("--tracker records the ML strategy's predictions: it needs --model NAME[@version]", {
      field: 'tracker',
    });
  }
  let exchangeOptions: Record<string, unknown> | undefined;
  if (opts.exchangeOptions !== undefined) {
    try {
      exchangeOptions = JSON.parse(opts.exchangeOptions) as Record<string, unknown>;
    } catch {
      throw new ConfigError('--exchange-options must be a JSON object', { field: 'exchange-options' });
    }
  }
  const symbols = opts.symbol;

  // ccxt and the exchange layer load only now (importing ccxt takes seconds)
  const [ex, core] = await Promise.all([import('../../exchange/index.js'), import('../../core/logger.js')]);
  const credentials = mode === 'live' ? ex.credentialsFromEnv(opts.exchange) : undefined;
  const redactor = ex.Redactor.of(credentials);
  const log = redactor.logger(
    core.createJsonLogger(opts.verbose === true || process.env.QUANTFLOW_DEBUG ? 'info' : 'warn'),
  );
  const override = process.env[ex.URL_OVERRIDE_ENV];
  const exchange = await ex.createCcxtExchange({
    id: opts.exchange,
    ...(credentials !== undefined ? { credentials } : {}),
    sandbox: opts.sandbox === true,
    ...(override !== undefined && override !== '' ? { urlOverride: override } : {}),
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(exchangeOptions !== undefined ? { options: exchangeOptions } : {}),
  });

  const dispose: Array<() => Promise<void>> = [];
  const out = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const journalFile = opts.journal ?? defaultJournal(mode, opts.exchange, symbols, opts.timeframe);
    // a resumed run's candles up to the journal's last ones are already in its tracker
    const resumed = opts.tracker !== undefined ? await new ex.TradingJournal(journalFile).load() : undefined;
    const strategy = await createStrategy(opts, symbols, dispose, resumed?.lastCandle);
    const abort = new AbortController();
    let signals = 0;
    let stopped = false;
    const onSignal = (name: string) => {
      signals++;
      if (signals > 1) {
        process.stderr.write(`${name} again: exiting now (the journal holds the last saved state)\n`);
        process.exit(130);
      }
      process.stderr.write(
        `${name}: stopping (no new orders, saving state${opts.cancelOnExit ? ', cancelling open orders' : ''})\n`,
      );
      // whatever keeps the process up after that (a request that does not end, a socket left open), it ends
      const grace = Number(process.env[STOP_GRACE_ENV] ?? STOP_GRACE_MS) || STOP_GRACE_MS;
      setTimeout(() => {
        process.stderr.write(
          stopped
            ? `still not exited ${grace / 1000} s after ${name} (open: ${openResources()}): exiting\n`
            : `stopping took longer than ${grace / 1000} s: exiting now (the journal holds the last saved state)\n`,
        );
        process.exit(stopped ? (process.exitCode ?? 0) : 1);
      }, grace).unref();
      abort.abort();
    };
    const onInt = () => onSignal('SIGINT');
    const onTerm = () => onSignal('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    out(
      `${mode} trading ${symbols.join(', ')} ${opts.timeframe} on ${exchange.id}${opts.sandbox ? ' (sandbox)' : ''} ` +
        `with ${strategy.name}; journal ${journalFile}`,
    );
    try {
      const summary = await ex.runTrading({
        mode,
        exchange,
        symbols,
        timeframe: opts.timeframe,
        strategy,
        journalFile,
        ...(opts.cash !== undefined ? { cash: opts.cash } : {}),
        ...(opts.fee !== undefined ? { feeRate: opts.fee } : {}),
        ...(opts.slippageBps !== undefined ? { slippageBps: opts.slippageBps } : {}),
        ...(opts.warmup !== undefined ? { warmupCandles: opts.warmup } : {}),
        replayedDecisions: opts.replayedDecisions as 'act' | 'halt',
        killSwitch: {
          ...(opts.maxDailyLoss !== undefined ? { maxDailyLoss: opts.maxDailyLoss } : {}),
          ...(opts.maxDrawdown !== undefined ? { maxDrawdown: opts.maxDrawdown } : {}),
        },
        resetKillSwitch: opts.resetKillSwitch === true,
        onMismatch: opts.onMismatch as 'halt' | 'adopt-exchange',
        confirmReconciliation: opts.confirmReconciliation === true,
        cancelOnExit: opts.cancelOnExit === true,
        feed: {
          websocket: opts.websocket,
          ticks: opts.ticks,
          ...(opts.pollMs !== undefined ? { pollIntervalMs: opts.pollMs } : {}),
          ...(opts.maxJump !== undefined ? { maxJumpRanges: opts.maxJump } : {}),
        },
        ...(opts.orderIdNamespace !== undefined ? { orderIdNamespace: opts.orderIdNamespace } : {}),
        redactor,
        log,
        signal: abort.signal,
        onStatus: (s) => out(ex.formatStatus(s)),
        onReconciliation: (r) => {
          out(`reconciliation: ${ex.summarize(r)}${r.action === 'adopted' ? ' -> adopted the exchange state' : ''}`);
          for (const f of r.filledWhileDown) {
            out(`  filled while down: ${f.clientOrderId} ${f.side} ${f.quantity} ${f.symbol} @ ${f.averagePrice}`);
          }
          for (const v of r.vanishedOrders)
            out(`  vanished: ${v.clientOrderId} ${v.side} ${v.symbol} (${v.was} -> ${v.now})`);
          for (const o of r.unknownOpenOrders)
            out(`  unknown open order: ${o.id} ${o.clientOrderId ?? ''} ${o.side} ${o.symbol}`);
          for (const d of r.balanceDifferences) {
            out(
              `  balance ${d.currency}: exchange ${d.actual}, journal expects ${d.expected} (difference ${d.difference})`,
            );
          }
        },
        onReady: (info) =>
          out(
            `warm-up: ${info.warmupCandles} candles${info.backfillCandles > 0 ? `, backfilled ${info.backfillCandles}` : ''}; trading`,
          ),
      });
      const kill = summary.killSwitch !== undefined ? `; kill switch tripped: ${summary.killSwitch.reason}` : '';
      const caught = summary.orders.caughtUp > 0 ? `, ${summary.orders.caughtUp} for missed decisions` : '';
      out(
        `stopped: ${summary.candles.live + summary.candles.backfill} candles, ${summary.signals} signals, ` +
          `${summary.orders.submitted} orders (${summary.orders.rejected} rejected, ${summary.orders.open} open${caught}), ` +
          `${summary.fills} fills, equity ${summary.equity.toFixed(2)}${kill}; state saved to ${journalFile}`,
      );
    } finally {
      stopped = true;
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    }
  } catch (err) {
    // never let a secret through, whatever the error says
    if (err instanceof Error) err.message = redactor.text(err.message);
    throw err;
  } finally {
    for (const d of dispose) await d().catch(() => undefined);
    await (exchange as { close?: () => Promise<unknown> }).close?.().catch(() => undefined);
  }
}

async function createStrategy(
  opts: TradeCommandOptions,
  symbols: readonly string[],
  dispose: Array<() => Promise<void>>,
  processed: Readonly<Record<string, number>> | undefined,
): Promise<Strategy> {
  if (opts.model === undefined) {
    const { SmaCrossover } = await import('../../../strategies/sma-crossover.js');
    return new SmaCrossover({
      fast: opts.fast,
      slow: opts.slow,
      mode: 'long-only',
      fraction: opts.fraction ?? 1 / symbols.length,
    });
  }
  const [{ MlStrategy }, { RealtimePredictor }, registryModule, { createJsonLogger }] = await Promise.all([
    import('../../../strategies/ml-strategy.js'),
    import('../../models/realtime-predictor.js'),
    import('../../registry/index.js'),
    import('../../core/logger.js'),
  ]);
  const registry = await registryModule.ModelRegistry.open(registryRoot(opts.registry), { create: false });
  const predictor = await registryModule.loadPredictor(registry, opts.model, { logger: createJsonLogger('warn') });
  dispose.push(() => predictor.dispose());
  let tracker: PredictionSink | undefined;
  if (opts.tracker !== undefined) {
    const file = path.resolve(opts.tracker);
    if (processed === undefined && existsSync(file) && statSync(file).size > 0) {
      throw new ConfigError(
        'the tracker file already holds predictions but the journal is new: give a new tracker file, or the journal it was used with',
        { file, field: 'tracker' },
      );
    }
    const { PredictionTracker } = await import('../../tracking/prediction-tracker.js');
    const opened = PredictionTracker.open(file, { logger: createJsonLogger('warn') });
    dispose.push(async () => opened.close());
    tracker = processed === undefined ? opened : afterProcessed(opened, processed);
  }
  return new MlStrategy({
    predictor: new RealtimePredictor(predictor),
    ...(tracker !== undefined ? { tracker } : {}),
    ...(opts.threshold !== undefined ? { threshold: opts.threshold } : {}),
    ...(opts.fraction !== undefined ? { fraction: opts.fraction } : {}),
    allowShort: false,
    ...(opts.stopLoss !== undefined ? { stopLoss: opts.stopLoss } : {}),
    ...(opts.takeProfit !== undefined ? { takeProfit: opts.takeProfit } : {}),
    ...(opts.maxHold !== undefined ? { maxHoldCandles: opts.maxHold } : {}),
  });
}

/** What keeps the event loop alive, for the forced-exit message. */
function openResources(): string {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
  return [...counts].map(([r, n]) => `${n} ${r}`).join(', ') || 'nothing';
}

/**
 * The tracker of a resumed run: the candles the previous run processed (up
 * to the journal's last candle per symbol), and the predictions made on them,
 * are in it already; the warm-up replays them, and they are not fed again.
 */
function afterProcessed(sink: PredictionSink, processed: Readonly<Record<string, number>>): PredictionSink {
  const seen = (symbol: string, time: number) => time <= (processed[symbol] ?? Number.NEGATIVE_INFINITY);
  return {
    record: (input) => (seen(input.symbol, input.timestamp) ? undefined : sink.record(input)),
    onCandle: (candle) => (seen(candle.symbol, candle.timestamp) ? undefined : sink.onCandle(candle)),
  };
}
