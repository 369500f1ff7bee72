/**
 * `quantflow risk`: walk-forward, out-of-sample evaluation of the risk models
 * and portfolio optimisers on several candle files aligned on their common
 * timestamps (src/risk/walk-forward-risk.ts), and the risk of a given
 * portfolio (--weights or --positions) over the last --train-window bars.
 *
 *   quantflow risk --data FILES... [--train-window 1000] [--test-window 21] [--level 0.99]
 *     [--optimizers equal,inverse-vol,min-variance,risk-parity] [--fee 0.001] [--long-short]
 *     [--max-weight X] [--max-gross X] [--lambda 0.94] [--naive-window 20]
 *     [--weights SYM=W,... | --positions SYM=QTY,... [--cash X]] [--json] [--out FILE]
 */
import { writeFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../../core/errors.js';
import {
  type AlignedReturns,
  alignReturns,
  DEFAULT_OPTIMIZERS,
  evaluateRiskWalkForward,
  OPTIMIZER_METHODS,
  type OptimizerMethod,
  type PortfolioRiskReport,
  portfolioRiskReport,
  sliceWindow,
  VAR_METHODS,
  type WalkForwardRiskReport,
  weightsFromPositions,
} from '../../risk/index.js';
import { action, integerOption, numberOption } from '../action.js';
import { loadCandleInput } from '../candle-input.js';
import { textTable } from '../text-table.js';

interface RiskOptions {
  data: string[];
  repair?: boolean;
  trainWindow: number;
  testWindow: number;
  level: number;
  optimizers: OptimizerMethod[];
  fee: number;
  longShort?: boolean;
  maxWeight?: number;
  maxGross?: number;
  lambda: number;
  naiveWindow: number;
  weights?: Record<string, number>;
  positions?: Record<string, number>;
  cash: number;
  json?: boolean;
  out?: string;
}

/** The optimisers that work from returns alone (insight needs a model's probabilities). */
const RETURNS_OPTIMIZERS = OPTIMIZER_METHODS.filter((m) => m !== 'insight');

function optimizerList(value: string): OptimizerMethod[] {
  const names = value.split(',').map((s) => s.trim());
  for (const name of names) {
    if (name === 'insight')
      throw new InvalidArgumentError("'insight' needs a model's probabilities, which this command does not have");
    if (!(RETURNS_OPTIMIZERS as readonly string[]).includes(name)) {
      throw new InvalidArgumentError(`unknown optimizer '${name}' (expected ${RETURNS_OPTIMIZERS.join(', ')})`);
    }
  }
  return names as OptimizerMethod[];
}

/** `SYM=x,SYM=y` (a symbol may contain '/', so the last '=' splits). */
function symbolValues(option: string): (value: string) => Record<string, number> {
  return (value: string) => {
    const out: Record<string, number> = {};
    for (const part of value.split(',')) {
      const at = part.lastIndexOf('=');
      const symbol = part.slice(0, at).trim();
      const x = Number(part.slice(at + 1));
      if (at <= 0 || part.slice(at + 1).trim() === '' || !Number.isFinite(x)) {
        throw new InvalidArgumentError(`--${option} expects SYMBOL=NUMBER pairs separated by commas, got '${part}'`);
      }
      if (symbol in out) throw new InvalidArgumentError(`--${option} gives ${symbol} twice`);
      out[symbol] = x;
    }
    return out;
  };
}

function levelOption(value: string): number {
  const n = Number(value);
  if (!(n > 0.5 && n < 1))
    throw new InvalidArgumentError(`--level expects a number in (0.5, 1) such as 0.99, got '${value}'`);
  return n;
}

export function register(program: Command): void {
  program
    .command('risk')
    .description(
      'walk-forward out-of-sample risk evaluation of several symbols (common timestamps): optimisers’ realised ' +
        'volatility vs equal weight, VaR breaches with Kupiec and Christoffersen tests, QLIKE of EWMA/GARCH vs naive; ' +
        'and VaR/ES/contributions of a given portfolio',
    )
    .requiredOption('--data <files...>', 'candle files (CSV or ccxt JSON), one symbol each')
    .option('--repair', 'drop bad rows and duplicates and sort out-of-order rows instead of failing')
    .option(
      '--train-window <n>',
      'bars every estimate is made on, before each test window',
      integerOption('train-window', 100),
      1000,
    )
    .option('--test-window <n>', 'bars between rebalances and GARCH refits', integerOption('test-window', 1), 21)
    .option('--level <x>', 'VaR confidence level', levelOption, 0.99)
    .addOption(
      new Option('--optimizers <list>', `comma-separated, from ${RETURNS_OPTIMIZERS.join(', ')}`)
        .argParser(optimizerList)
        .default([...DEFAULT_OPTIMIZERS], DEFAULT_OPTIMIZERS.join(',')),
    )

    .option('--fee <rate>', 'fee per unit of weight traded at each rebalance', numberOption('fee'), 0.001)
    .option('--long-short', 'allow short weights (default long-only)')
    .option('--max-weight <x>', 'largest |weight| of one symbol (default 1)', numberOption('max-weight'))
    .option('--max-gross <x>', 'largest sum of |weights| (default no limit)', numberOption('max-gross'))
    .option('--lambda <x>', 'EWMA decay', numberOption('lambda'), 0.94)
    .option('--naive-window <n>', 'returns in the naive variance forecast', integerOption('naive-window', 2), 20)
    .option('--weights <pairs>', 'risk report for these weights, e.g. GOOG=0.4,NVDA=0.6', symbolValues('weights'))
    .option(
      '--positions <pairs>',
      'risk report for these quantities, valued at the last close',
      symbolValues('positions'),
    )
    .option('--cash <x>', 'cash held next to --positions', numberOption('cash'), 0)
    .option('--json', 'print the report as JSON instead of tables')
    .option('--out <file>', 'also write the JSON report to this file')
    .action(action(runRisk));
}

function portfolioWeights(o: RiskOptions, data: AlignedReturns): { weights: number[]; equity: number } | undefined {
  if (o.weights !== undefined && o.positions !== undefined) {
    throw new ConfigError('give either --weights or --positions, not both', { field: 'weights' });
  }
  if (o.positions !== undefined) return weightsFromPositions(data, o.positions, o.cash);
  if (o.weights === undefined) return undefined;
  const given = o.weights;
  for (const symbol of Object.keys(given)) {
    if (!data.symbols.includes(symbol)) {
      throw new ConfigError(`weight for ${symbol}, which is not in the data (${data.symbols.join(', ')})`, { symbol });
    }
  }
  return { weights: data.symbols.map((s) => given[s] ?? 0), equity: 1 };
}

async function runRisk(o: RiskOptions): Promise<void> {
  const { series } = await loadCandleInput(o, { neither: { missing: 'data' } });
  const data = alignReturns(series);
  const held = portfolioWeights(o, data);
  const walkForward = await evaluateRiskWalkForward(data, {
    trainBars: o.trainWindow,
    testBars: o.testWindow,
    level: o.level,
    lambda: o.lambda,
    naiveWindow: o.naiveWindow,
    feeRate: o.fee,
    optimizers: o.optimizers,
    optimizerOptions: {
      longOnly: o.longShort !== true,
      ...(o.maxWeight !== undefined ? { maxWeight: o.maxWeight } : {}),
      ...(o.maxGross !== undefined ? { maxGross: o.maxGross } : {}),
    },
  });
  const bars = data.returns[0]!.length;
  const portfolio =
    held === undefined
      ? undefined
      : portfolioRiskReport(sliceWindow(data, Math.max(0, bars - o.trainWindow), bars), held.weights, {
          level: o.level,
          lambda: o.lambda,
          equity: held.equity,
        });
  const report = { commonBars: data.commonBars, walkForward, ...(portfolio !== undefined ? { portfolio } : {}) };
  const json = `${JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2)}\n`;
  if (o.out !== undefined) writeFileSync(o.out, json);
  if (o.json === true) process.stdout.write(json);
  else
    process.stdout.write(
      `${renderWalkForward(walkForward, data.commonBars)}\n${portfolio === undefined ? '' : `\n${renderPortfolio(portfolio)}\n`}`,
    );
}

// ---- rendering ---------------------------------------------------------------------------------------------

const pct = (x: number, digits = 1) => `${(x * 100).toFixed(digits)}%`;
const day = (ts: number) => new Date(ts).toISOString().slice(0, 16).replace('T', ' ');
const p3 = (x: number) => (x < 0.001 ? x.toExponential(1) : x.toFixed(3));

export function renderWalkForward(r: WalkForwardRiskReport, commonBars: number): string {
  const lines = [
    `risk walk-forward: ${r.symbols.join(', ')} (${commonBars} common bars)`,
    `  ${r.bars} out-of-sample bars, ${day(r.from)} -> ${day(r.to)}: ${r.windows} windows of ${r.testBars} bars, ` +
      `each estimated on the ${r.trainBars} bars before it; fee ${pct(r.feeRate, 2)} per unit of weight traded; ` +
      `volatility annualised at ${Math.round(r.barsPerYear).toLocaleString('en-US')} bars/year`,
    '',
    textTable(
      [
        'PORTFOLIO',
        'REALISED VOL',
        'VS EQUAL',
        'FORECAST VOL',
        'RETURN',
        'MAX DD',
        'TURNOVER/REBAL',
        'COSTS',
        'NO SOLUTION',
      ],
      [
        ...r.portfolios.map((p) => [
          p.method,
          pct(p.realisedVolatility),
          p.volatilityVsEqual === undefined ? '-' : `${p.volatilityVsEqual.toFixed(3)}x`,
          pct(p.forecastVolatility),
          pct(p.totalReturn),
          pct(p.maxDrawdown),
          pct(p.turnoverPerRebalance),
          pct(p.costs, 2),
          p.skippedWindows > 0 ? `${p.skippedWindows} windows (cash)` : '0',
        ]),
        ...r.assets.map((a) => [
          `buy-and-hold ${a.symbol}`,
          pct(a.buyAndHold.volatility),
          '-',
          '-',
          pct(a.buyAndHold.totalReturn),
          pct(a.buyAndHold.maxDrawdown),
          '-',
          '-',
          '-',
        ]),
      ],
    ),
    '',
    `one-bar ${pct(r.level, 0)} VaR, out of sample (expected breach rate ${pct(1 - r.level, 2)}; p-values: Kupiec coverage, Christoffersen independence)`,
    textTable(
      ['SYMBOL', ...VAR_METHODS.map((m) => `${m.toUpperCase()} BREACHES (KUPIEC p, CHRIST. p)`)],
      r.assets.map((a) => [
        a.symbol,
        ...VAR_METHODS.map((m) => {
          const b = a.valueAtRisk[m];
          return `${b.breaches} ${pct(b.breachRate, 2)} (${p3(b.kupiec.pValue)}, ${p3(b.christoffersen.pValue)})`;
        }),
      ]),
    ),
    '',
    'one-bar variance forecasts, mean QLIKE (ln h + r^2/h; lower is better; same bars for all three)',
    textTable(
      ['SYMBOL', 'BARS', 'NAIVE', 'EWMA', 'GARCH', 'EWMA - NAIVE', 'GARCH - NAIVE', 'GARCH PERSISTENCE'],
      r.assets.map((a) => [
        a.symbol,
        String(a.qlike.bars),
        a.qlike.naive.toFixed(4),
        a.qlike.ewma.toFixed(4),
        a.qlike.garch.toFixed(4),
        (a.qlike.ewma - a.qlike.naive).toFixed(4),
        (a.qlike.garch - a.qlike.naive).toFixed(4),
        `${a.garch.meanPersistence.toFixed(3)}${a.garch.unconverged > 0 ? ` (${a.garch.unconverged} unconverged fits)` : ''}`,
      ]),
    ),
    '',
  ];
  for (const m of VAR_METHODS) {
    const pass = r.assets.filter((a) => a.valueAtRisk[m].kupiec.pValue >= 0.05).length;
    lines.push(`${m} VaR passes Kupiec at 5% on ${pass}/${r.assets.length} symbols`);
  }
  return lines.join('\n');
}

export function renderPortfolio(p: PortfolioRiskReport): string {
  const money = (x: number) => (p.equity === 1 ? pct(x, 2) : `${(x * p.equity).toFixed(2)} (${pct(x, 2)})`);
  return [
    `portfolio risk over the last ${p.bars} bars (one bar ahead, ${pct(p.level, 0)}; Ledoit-Wolf shrinkage ${p.shrinkage.toFixed(3)})`,
    textTable(
      ['METHOD', 'VaR', 'ES'],
      p.valueAtRisk.map((v) => [v.method, money(v.estimate.valueAtRisk), money(v.estimate.expectedShortfall)]),
    ),
    '',
    textTable(
      ['SYMBOL', 'WEIGHT', 'MARGINAL VOL', 'COMPONENT VOL', 'SHARE OF RISK', 'COMPONENT VaR (ZERO MEAN)'],
      [
        ...p.symbols.map((s, i) => [
          s,
          pct(p.weights[i]!, 2),
          pct(p.contributions.marginal[i]!, 3),
          pct(p.contributions.component[i]!, 3),
          pct(p.contributions.share[i]!, 1),
          money(p.contributions.componentVar[i]!),
        ]),
        [
          'total',
          pct(
            p.weights.reduce((a, w) => a + w, 0),
            2,
          ),
          '',
          pct(p.contributions.volatility, 3),
          '100.0%',
          money(p.contributions.componentVar.reduce((a, v) => a + v, 0)),
        ],
      ],
    ),
    `drawdown over the window (weights held): max ${pct(p.drawdown.max)}, now ${pct(p.drawdown.current)}, longest ${p.drawdown.longestUnderwaterBars} bars under water`,
  ].join('\n');
}
