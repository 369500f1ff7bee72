/**
 * The ML strategy inside grademark (https://github.com/grademark/grademark), a
 * JavaScript backtesting framework over data-forge DataFrames of bars.
 *
 * grademark calls its `entryRule` / `exitRule` synchronously, one bar at a
 * time; our predictors are asynchronous. So the predictions are made first, in
 * bar order, by the streaming path (`MlStrategy` on a `RealtimePredictor`,
 * driven through `EmbeddedStrategy`): the prediction and signal attached to
 * bar i come from bars 0..i only, exactly what paper or live trading would
 * have said when bar i closed. The rules then only read the current bar:
 *
 * - entryRule: BUY on this bar -> enter long (SELL -> enter short, with
 *   `allowShort`). grademark fills the entry at the NEXT bar's open, as our
 *   simulated broker does.
 * - exitRule: exit when the strategy's side has left the position's direction
 *   (a SELL since a long was entered; a BUY since a short), or after
 *   `maxHoldCandles` bars (grademark's holdingPeriod); the exit fills at the
 *   next bar's open.
 * - `stopLoss` / `takeProfit` become grademark's own intrabar stop loss and
 *   profit target (fractions of the entry price).
 *
 * grademark's own semantics apply and differ from our engine in two ways:
 * rules are not evaluated on the bar a position is entered or exited (so a BUY
 * on an exit bar is not taken), and it trades one unit without fees or
 * slippage (use `analyze` / your own sizing for money). For the same strategy
 * with fees, slippage and sizing use `quantflow backtest`.
 *
 * grademark and data-forge are optional peer dependencies, loaded when
 * `runGrademarkBacktest` runs; `grademark` 0.3 also needs `chai` at run time.
 */
import type { IStrategy, ITrade } from 'grademark';
import type { IBacktestOptions } from 'grademark/build/lib/backtest.js';
import type { TradeDirection } from 'grademark/build/lib/strategy.js';
import { ML_STRATEGY_DEFAULTS, MlStrategy } from '../../strategies/ml-strategy.js';
import { ConfigError } from '../core/errors.js';
import type { CandlePredictor, PredictionSink } from '../core/prediction.js';
import type { Candle, Prediction, SignalAction } from '../core/types.js';
import { type CandleFileOptions, loadCandles } from '../data/candle-file.js';
import { generateSyntheticCandles } from '../data/synthetic.js';
import { EmbeddedStrategy } from './embedded-strategy.js';
import { type ModelSource, openModel } from './model-source.js';

/** grademark's TradeDirection values (its enum is not exported from the package root). */
const LONG = 'long' as TradeDirection;
const SHORT = 'short' as TradeDirection;

/** A bar as grademark sees it, with our prediction and signal for it. */
export interface GrademarkBar {
  /** Open time (grademark's `time`). */
  readonly time: Date;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
  /** Open time in ms, as our Candle has it. */
  readonly timestamp: number;
  readonly symbol: string;
  /** The prediction made when this bar closed (undefined during warm-up). */
  readonly prediction: Prediction | undefined;
  /** The strategy's call on this bar (HOLD during warm-up). */
  readonly signal: SignalAction;
  /** The side the signals so far ask for: 1 long, -1 short, 0 flat (BUY -> 1, SELL -> -1 or 0, HOLD keeps it). */
  readonly side: -1 | 0 | 1;
}

export interface PredictBarsOptions {
  /** A fresh streaming predictor (it must not have seen these candles), e.g. `new RealtimePredictor(model)`. */
  readonly predictor: CandlePredictor;
  /** Minimum confidence to act (default 0.6). */
  readonly threshold?: number;
  /** SELL asks for a short (default false: SELL asks for flat). */
  readonly allowShort?: boolean;
  /** Records every closed-bar prediction (a PredictionTracker). */
  readonly tracker?: PredictionSink;
}

/**
 * Our prediction and signal for every candle (one symbol, time order), made
 * by the streaming path in bar order: bar i's only from candles 0..i.
 */
export async function predictBars(candles: readonly Candle[], options: PredictBarsOptions): Promise<GrademarkBar[]> {
  const allowShort = options.allowShort ?? ML_STRATEGY_DEFAULTS.allowShort;
  const strategy = new MlStrategy({
    predictor: options.predictor,
    threshold: options.threshold ?? ML_STRATEGY_DEFAULTS.threshold,
    allowShort,
    fraction: 1,
    ...(options.tracker !== undefined ? { tracker: options.tracker } : {}),
  });
  const embedded = new EmbeddedStrategy({ strategy });
  const bars: GrademarkBar[] = new Array(candles.length);
  let side: -1 | 0 | 1 = 0;
  const symbol = candles[0]?.symbol;
  await embedded.start();
  try {
    for (let i = 0; i < candles.length; i++) {
      const c = candles[i] as Candle;
      if (c.symbol !== symbol) {
        throw new ConfigError(`grademark backtests one symbol; got ${symbol} and ${c.symbol}`, {
          index: i,
          field: 'symbol',
        });
      }
      const signals = await embedded.candle(c);
      // Without risk exits configured, MlStrategy publishes at most one signal per closed candle.
      const s = signals[signals.length - 1];
      const signal: SignalAction = s?.action ?? 'HOLD';
      if (signal === 'BUY') side = 1;
      else if (signal === 'SELL') side = allowShort ? -1 : 0;
      bars[i] = {
        time: new Date(c.timestamp),
        open: c.open,
        high: c.high,
        low: c.low,
        close: c.close,
        volume: c.volume,
        timestamp: c.timestamp,
        symbol: c.symbol,
        prediction: s?.prediction,
        signal,
        side,
      };
    }
  } finally {
    await embedded.stop();
  }
  return bars;
}

export interface GrademarkRuleOptions {
  /** Enter shorts on SELL (default false). */
  readonly allowShort?: boolean;
  /** grademark stop loss at this fraction below (long) / above (short) the entry price, e.g. 0.02. */
  readonly stopLoss?: number;
  /** grademark profit target at this fraction from the entry price, e.g. 0.05. */
  readonly takeProfit?: number;
  /** Exit after this many bars in the position (grademark's holdingPeriod). */
  readonly maxHoldCandles?: number;
}

/** A grademark strategy trading the signals attached to the bars by `predictBars`. */
export function createGrademarkStrategy(options: GrademarkRuleOptions = {}): IStrategy<GrademarkBar, GrademarkBar> {
  const allowShort = options.allowShort ?? false;
  const { stopLoss, takeProfit, maxHoldCandles } = options;
  if (stopLoss !== undefined && !(Number.isFinite(stopLoss) && stopLoss > 0 && stopLoss < 1)) {
    throw new ConfigError(`stop-loss must be a fraction in (0, 1), got ${stopLoss}`, { field: 'stopLoss' });
  }
  if (takeProfit !== undefined && !(Number.isFinite(takeProfit) && takeProfit > 0)) {
    throw new ConfigError(`take-profit must be a fraction > 0, got ${takeProfit}`, { field: 'takeProfit' });
  }
  if (maxHoldCandles !== undefined && !(Number.isInteger(maxHoldCandles) && maxHoldCandles >= 1)) {
    throw new ConfigError(`maxHoldCandles must be an integer >= 1, got ${maxHoldCandles}`, {
      field: 'maxHoldCandles',
    });
  }
  const strategy: IStrategy<GrademarkBar, GrademarkBar> = {
    entryRule(enterPosition, { bar }) {
      if (bar.signal === 'BUY') enterPosition({ direction: LONG });
      else if (bar.signal === 'SELL' && allowShort) enterPosition({ direction: SHORT });
    },
    exitRule(exitPosition, { bar, position }) {
      const direction = position.direction === LONG ? 1 : -1;
      if (bar.side !== direction) exitPosition();
      else if (maxHoldCandles !== undefined && position.holdingPeriod >= maxHoldCandles) exitPosition();
    },
  };
  if (stopLoss !== undefined) strategy.stopLoss = ({ entryPrice }) => entryPrice * stopLoss;
  if (takeProfit !== undefined) strategy.profitTarget = ({ entryPrice }) => entryPrice * takeProfit;
  return strategy;
}

export interface GrademarkBacktestOptions extends GrademarkRuleOptions {
  /** The model: { predictor } (a fresh one), { modelDir } or { registry, model }. */
  readonly model: ModelSource;
  /** Candles of one symbol in time order; or `dataFile`; neither: the synthetic market. */
  readonly candles?: readonly Candle[];
  /** A candle file (CSV or ccxt JSON) read with the project's loader. */
  readonly dataFile?: string;
  readonly dataOptions?: CandleFileOptions;
  /** Minimum confidence to act (default 0.6). */
  readonly threshold?: number;
  readonly tracker?: PredictionSink;
  /** grademark's own backtest options. */
  readonly backtest?: IBacktestOptions;
}

export interface GrademarkBacktestResult {
  /** grademark's trades (one unit each, no fees). */
  readonly trades: ITrade[];
  /** The bars given to grademark, with our predictions and signals. */
  readonly bars: readonly GrademarkBar[];
  readonly modelVersion: string;
  readonly signals: { readonly buy: number; readonly sell: number; readonly hold: number };
}

/**
 * Predicts every bar with the streaming predictor, then runs grademark's
 * `backtest(strategy, DataFrame)` over them.
 */
export async function runGrademarkBacktest(options: GrademarkBacktestOptions): Promise<GrademarkBacktestResult> {
  const { backtest, DataFrame } = await loadGrademark();
  if (options.candles !== undefined && options.dataFile !== undefined) {
    throw new ConfigError('give either candles or dataFile, not both', { field: 'dataFile' });
  }
  const strategy = createGrademarkStrategy(options);
  const candles =
    options.candles ??
    (options.dataFile !== undefined
      ? (await loadCandles(options.dataFile, options.dataOptions)).candles
      : generateSyntheticCandles());
  if (candles.length === 0) throw new ConfigError('no candles to backtest', { field: 'candles' });
  const model = await openModel(options.model);
  let bars: GrademarkBar[];
  try {
    bars = await predictBars(candles, {
      predictor: model.predictor,
      ...(options.threshold !== undefined ? { threshold: options.threshold } : {}),
      ...(options.allowShort !== undefined ? { allowShort: options.allowShort } : {}),
      ...(options.tracker !== undefined ? { tracker: options.tracker } : {}),
    });
  } finally {
    await model.close();
  }
  const trades = backtest(strategy, new DataFrame<number, GrademarkBar>(bars), options.backtest);
  const signals = { buy: 0, sell: 0, hold: 0 };
  for (const b of bars) {
    if (b.signal === 'BUY') signals.buy++;
    else if (b.signal === 'SELL') signals.sell++;
    else signals.hold++;
  }
  return { trades, bars, modelVersion: model.modelVersion, signals };
}

async function loadGrademark(): Promise<{
  backtest: typeof import('grademark').backtest;
  DataFrame: typeof import('data-forge').DataFrame;
}> {
  try {
    const [grademark, dataForge] = await Promise.all([import('grademark'), import('data-forge')]);
    return { backtest: grademark.backtest, DataFrame: dataForge.DataFrame };
  } catch (err) {
    throw new ConfigError(
      `the grademark adapter needs grademark and data-forge installed (npm install grademark data-forge chai): ${
        err instanceof Error ? err.message : String(err)
      }`,
      { field: 'grademark' },
      { cause: err },
    );
  }
}
