/**
 * The trading journal: everything needed to resume after a crash, in one JSON
 * file rewritten after every change — atomically (temporary file, fsync,
 * rename, fsync of the directory; see registry/atomic-fs.ts), so a kill at any
 * moment leaves the previous complete journal or the new one.
 *
 * It holds: the run's identity (mode, exchange, symbols, timeframe, strategy),
 * the last processed candle per symbol, the portfolio (cash, positions,
 * trades), the broker's state (paper: the simulated broker's open orders;
 * live: tracked orders with their client ids, applied trade ids and the
 * expected exchange balances), and the kill switch.
 *
 * Reading checks it field by field against a JSON schema (ajv) and then for
 * what a schema cannot say (spot trading holds no short, positions are in
 * the run's symbols, no candle is later than the exchange's clock): a
 * refusal is a DataError naming the file and the field, and nothing is
 * written before the whole journal has passed.
 *
 * Writes are serialised: a save while one is in flight waits for it, and
 * only the newest state is written when several were queued.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { ConfigError, DataError } from '../core/errors.js';
import type { KillSwitchState } from '../engine/kill-switch.js';
import type { PortfolioState } from '../engine/portfolio.js';
import type { SimulatedBrokerState } from '../engine/simulated-broker.js';
import { replaceFileAtomically } from '../registry/atomic-fs.js';
import type { CcxtBrokerState } from './ccxt-broker.js';
import type { ReconciliationReport } from './reconcile.js';

export const JOURNAL_VERSION = 1;

export type TradingMode = 'paper' | 'live';

export interface JournalState {
  readonly version: number;
  readonly mode: TradingMode;
  readonly exchange: string;
  readonly symbols: readonly string[];
  readonly timeframe: string;
  readonly strategy: string;
  /** 'running' while trading; 'stopped' after a graceful stop; 'halted' when reconciliation refused to trade. */
  readonly status: 'running' | 'stopped' | 'halted';
  /** Wall-clock time of the write (ms). */
  readonly savedAt: number;
  /** Engine time (exchange time) of the write (ms). */
  readonly engineTime: number;
  /** Open time of the last processed candle, per symbol. */
  readonly lastCandle: Readonly<Record<string, number>>;
  readonly portfolio: PortfolioState;
  readonly broker:
    | { readonly kind: 'simulated'; readonly state: SimulatedBrokerState }
    | { readonly kind: 'ccxt'; readonly state: CcxtBrokerState };
  readonly killSwitch: KillSwitchState;
  /** The last reconciliation (live), for the operator. */
  readonly lastReconciliation?: ReconciliationReport;
}

export class TradingJournal {
  readonly file: string;
  private writing: Promise<void> = Promise.resolve();
  private queued: JournalState | undefined;
  private writes = 0;

  constructor(file: string) {
    this.file = path.resolve(file);
  }

  /** Journal writes so far in this process. */
  get writeCount(): number {
    return this.writes;
  }

  /** The saved journal, or undefined when the file does not exist. */
  async load(): Promise<JournalState | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new DataError(`cannot read the journal: ${(err as Error).message}`, { file: this.file }, { cause: err });
    }
    let state: unknown;
    try {
      state = JSON.parse(text);
    } catch (err) {
      throw new DataError(
        'the journal is not valid JSON (it is only ever replaced atomically: was it edited?)',
        {
          file: this.file,
        },
        { cause: err },
      );
    }
    const version = (state as { version?: unknown } | null)?.version;
    if (version !== JOURNAL_VERSION) {
      throw new DataError(`unsupported journal (version ${String(version)}, expected ${JOURNAL_VERSION})`, {
        file: this.file,
        field: 'version',
      });
    }
    return checkJournal(state, this.file);
  }

  /** Persist `state` durably; resolves once it (or a newer state) is on disk. */
  save(state: JournalState): Promise<void> {
    this.queued = state;
    const run = this.writing.then(async () => {
      const next = this.queued;
      if (next === undefined) return;
      this.queued = undefined;
      await mkdir(path.dirname(this.file), { recursive: true });
      await replaceFileAtomically(this.file, Buffer.from(`${JSON.stringify(next, null, 1)}\n`));
      this.writes++;
    });
    this.writing = run.catch(() => undefined);
    return run;
  }

  /** Waits for writes in flight. */
  flush(): Promise<void> {
    return this.writing;
  }
}

/** Refuse a journal written by a different run (another mode, exchange, symbol set or timeframe). */
export function checkJournalMatches(
  state: JournalState,
  run: { mode: TradingMode; exchange: string; symbols: readonly string[]; timeframe: string },
  file: string,
): void {
  const problems: string[] = [];
  if (state.mode !== run.mode) problems.push(`mode ${state.mode} (now ${run.mode})`);
  if (state.exchange !== run.exchange) problems.push(`exchange ${state.exchange} (now ${run.exchange})`);
  if (state.timeframe !== run.timeframe) problems.push(`timeframe ${state.timeframe} (now ${run.timeframe})`);
  if ([...state.symbols].sort().join(',') !== [...run.symbols].sort().join(',')) {
    problems.push(`symbols ${state.symbols.join(',')} (now ${run.symbols.join(',')})`);
  }
  if (problems.length > 0) {
    throw new ConfigError(
      `the journal belongs to another run: ${problems.join('; ')}. Use another --journal file for this run`,
      { file },
    );
  }
}

// ---- reading: schema, then what a schema cannot say ----

/** Money and quantities beyond this are not a trading account (1e15: a quadrillion). */
const MAX_AMOUNT = 1e15;
/** The latest time a Date can hold. */
const MAX_TIME = 8.64e15;

const amount = { type: 'number', minimum: -MAX_AMOUNT, maximum: MAX_AMOUNT } as const;
const nonNegative = { type: 'number', minimum: 0, maximum: MAX_AMOUNT } as const;
const positive = { type: 'number', exclusiveMinimum: 0, maximum: MAX_AMOUNT } as const;
const time = { type: 'number', minimum: 0, maximum: MAX_TIME } as const;
const text = { type: 'string', minLength: 1, maxLength: 200 } as const;
const day = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' } as const;
const STATUSES = ['pending', 'open', 'partially_filled', 'filled', 'cancelled', 'rejected'] as const;

const orderSize = {
  type: 'object',
  required: ['kind'],
  discriminator: { propertyName: 'kind' },
  oneOf: [
    {
      properties: { kind: { const: 'quantity' }, quantity: positive },
      required: ['kind', 'quantity'],
      additionalProperties: false,
    },
    {
      properties: { kind: { const: 'equity-fraction' }, fraction: { type: 'number', exclusiveMinimum: 0, maximum: 1 } },
      required: ['kind', 'fraction'],
      additionalProperties: false,
    },
    { properties: { kind: { const: 'all' } }, required: ['kind'], additionalProperties: false },
  ],
} as const;

const orderFields = {
  symbol: text,
  side: { enum: ['buy', 'sell'] },
  type: { enum: ['market', 'limit'] },
  size: orderSize,
  limitPrice: positive,
  clientOrderId: { type: 'string', minLength: 1, maxLength: 64 },
  reduceOnly: { type: 'boolean' },
  tag: { type: 'string', maxLength: 200 },
  id: { type: 'string', minLength: 1, maxLength: 64 },
  status: { enum: STATUSES },
  createdAt: time,
  filledQuantity: nonNegative,
  averageFillPrice: nonNegative,
  rejectReason: { type: 'string' },
} as const;
const orderRequired = [
  'symbol',
  'side',
  'type',
  'size',
  'clientOrderId',
  'id',
  'status',
  'createdAt',
  'filledQuantity',
  'averageFillPrice',
];

const simulatedOrder = {
  type: 'object',
  properties: orderFields,
  required: orderRequired,
  additionalProperties: false,
} as const;

const liveOrder = {
  type: 'object',
  properties: {
    ...orderFields,
    exchangeOrderId: { type: 'string', minLength: 1, maxLength: 100 },
    amount: nonNegative,
    remoteFilled: nonNegative,
    appliedTradeIds: { type: 'array', items: { type: 'string' }, maxItems: 100_000 },
    unknownOutcome: { type: 'boolean' },
    needsSync: { type: 'boolean' },
    remoteStatus: { type: 'string', maxLength: 40 },
    sentAt: time,
  },
  required: [...orderRequired, 'amount', 'remoteFilled', 'appliedTradeIds'],
  additionalProperties: false,
} as const;

const trade = {
  type: 'object',
  properties: {
    symbol: text,
    direction: { enum: ['long', 'short'] },
    entryTime: time,
    entryPrice: positive,
    exitTime: time,
    exitPrice: positive,
    quantity: positive,
    fees: nonNegative,
    pnl: amount,
    returnPct: { type: 'number' },
    exitReason: { type: 'string' },
  },
  required: [
    'symbol',
    'direction',
    'entryTime',
    'entryPrice',
    'exitTime',
    'exitPrice',
    'quantity',
    'fees',
    'pnl',
    'returnPct',
  ],
  additionalProperties: false,
} as const;

const JOURNAL_SCHEMA = {
  type: 'object',
  properties: {
    version: { const: JOURNAL_VERSION },
    mode: { enum: ['paper', 'live'] },
    exchange: text,
    symbols: { type: 'array', items: text, minItems: 1, maxItems: 1000, uniqueItems: true },
    timeframe: text,
    strategy: text,
    status: { enum: ['running', 'stopped', 'halted'] },
    savedAt: time,
    engineTime: time,
    lastCandle: { type: 'object', additionalProperties: time },
    portfolio: {
      type: 'object',
      properties: {
        initialCash: positive,
        cash: amount,
        totalFees: nonNegative,
        realizedPnl: amount,
        positions: {
          type: 'array',
          maxItems: 1000,
          items: {
            type: 'object',
            properties: {
              symbol: text,
              quantity: amount,
              entryPrice: positive,
              openedAt: time,
              markPrice: positive,
              entryFees: nonNegative,
            },
            required: ['symbol', 'quantity', 'entryPrice', 'openedAt', 'markPrice', 'entryFees'],
            additionalProperties: false,
          },
        },
        trades: { type: 'array', items: trade },
      },
      required: ['initialCash', 'cash', 'totalFees', 'realizedPnl', 'positions', 'trades'],
      additionalProperties: false,
    },
    broker: {
      type: 'object',
      required: ['kind', 'state'],
      discriminator: { propertyName: 'kind' },
      oneOf: [
        {
          properties: {
            kind: { const: 'simulated' },
            state: {
              type: 'object',
              properties: {
                nextId: { type: 'integer', minimum: 1 },
                openOrders: { type: 'array', items: simulatedOrder, maxItems: 100_000 },
              },
              required: ['nextId', 'openOrders'],
              additionalProperties: false,
            },
          },
          required: ['kind', 'state'],
          additionalProperties: false,
        },
        {
          properties: {
            kind: { const: 'ccxt' },
            state: {
              type: 'object',
              properties: {
                orders: { type: 'array', items: liveOrder, maxItems: 100_000 },
                balances: { type: 'object', additionalProperties: amount },
              },
              required: ['orders', 'balances'],
              additionalProperties: false,
            },
          },
          required: ['kind', 'state'],
          additionalProperties: false,
        },
      ],
    },
    killSwitch: {
      type: 'object',
      properties: {
        day,
        dayStartEquity: amount,
        peakEquity: amount,
        tripped: {
          type: 'object',
          properties: { reason: { type: 'string' }, at: time, day, equity: amount },
          required: ['reason', 'at', 'day', 'equity'],
          additionalProperties: false,
        },
      },
      additionalProperties: false,
    },
    lastReconciliation: { type: 'object' },
  },
  required: [
    'version',
    'mode',
    'exchange',
    'symbols',
    'timeframe',
    'strategy',
    'status',
    'savedAt',
    'engineTime',
    'lastCandle',
    'portfolio',
    'broker',
    'killSwitch',
  ],
  additionalProperties: false,
} as const;

let validate: ReturnType<Ajv['compile']> | undefined;

/** The journal `state` read from `file`, checked; a DataError naming file and field otherwise. */
export function checkJournal(state: unknown, file: string): JournalState {
  validate ??= new Ajv({ allErrors: false, strict: true, strictRequired: false, discriminator: true }).compile(
    JOURNAL_SCHEMA,
  );
  if (!validate(state)) throw schemaError((validate.errors ?? [])[0], state, file);
  const j = state as JournalState;
  const bad = (field: string, message: string): never => {
    throw new DataError(`${message} (the journal was edited or corrupted: fix or remove it)`, { file, field });
  };
  if ((j.mode === 'paper') !== (j.broker.kind === 'simulated')) {
    bad('broker.kind', `a ${j.broker.kind} broker state in a ${j.mode} journal`);
  }
  const symbols = new Set(j.symbols);
  for (const key of Object.keys(j.lastCandle)) {
    if (!symbols.has(key)) bad(`lastCandle.${key}`, `a last candle for ${key}, which the run does not trade`);
  }
  const p = j.portfolio;
  // spot trading: cash is never below zero beyond rounding, positions are long
  if (p.cash < -1e-6 * p.initialCash) bad('portfolio.cash', `cash ${p.cash} is negative`);
  const held = new Set<string>();
  p.positions.forEach((pos, i) => {
    if (!symbols.has(pos.symbol))
      bad(`portfolio.positions.${i}.symbol`, `a position in ${pos.symbol}, which the run does not trade`);
    if (held.has(pos.symbol)) bad(`portfolio.positions.${i}.symbol`, `a second position in ${pos.symbol}`);
    held.add(pos.symbol);
    if (!(pos.quantity > 0)) {
      bad(
        `portfolio.positions.${i}.quantity`,
        `quantity ${pos.quantity} is not a long position (spot trading holds no shorts)`,
      );
    }
  });
  const orders = j.broker.kind === 'simulated' ? j.broker.state.openOrders : j.broker.state.orders;
  orders.forEach((o, i) => {
    const field = `broker.state.${j.broker.kind === 'simulated' ? 'openOrders' : 'orders'}.${i}.symbol`;
    if (!symbols.has(o.symbol)) bad(field, `an order in ${o.symbol}, which the run does not trade`);
  });
  return j;
}

/**
 * Refuse a journal whose last processed candle is later than the exchange's
 * clock `now` (a journal from the future would process nothing, silently).
 */
export function checkJournalTime(state: JournalState, now: number, file: string): void {
  for (const [symbol, t] of Object.entries(state.lastCandle)) {
    if (t > now) {
      throw new DataError(
        `the last processed ${symbol} candle, ${new Date(t).toISOString()}, is later than the exchange's clock ` +
          `${new Date(now).toISOString()} (the journal was edited, or belongs to another clock): fix or remove it`,
        { file, field: `lastCandle.${symbol}` },
      );
    }
  }
}

function schemaError(e: ErrorObject | undefined, state: unknown, file: string): DataError {
  if (e === undefined) return new DataError('the journal does not match its schema', { file });
  let field = e.instancePath.slice(1).replaceAll('/', '.');
  const params = e.params as { missingProperty?: string; additionalProperty?: string };
  if (e.keyword === 'required' && params.missingProperty !== undefined) {
    field = field === '' ? params.missingProperty : `${field}.${params.missingProperty}`;
    return new DataError('missing (the journal was edited or corrupted: fix or remove it)', { file, field });
  }
  if (e.keyword === 'additionalProperties' && params.additionalProperty !== undefined) {
    field = field === '' ? params.additionalProperty : `${field}.${params.additionalProperty}`;
    return new DataError('not a journal field (the journal was edited or corrupted: fix or remove it)', {
      file,
      field,
    });
  }
  let value: unknown = state;
  for (const part of e.instancePath.split('/').slice(1)) value = (value as Record<string, unknown> | null)?.[part];
  return new DataError(
    `${e.message ?? 'invalid'}, got ${show(value)} (the journal was edited or corrupted: fix or remove it)`,
    {
      file,
      ...(field !== '' ? { field } : {}),
    },
  );
}

function show(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  const t = JSON.stringify(value) ?? typeof value;
  return t.length > 60 ? `${t.slice(0, 57)}...` : t;
}
