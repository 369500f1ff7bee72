/**
 * A fake Binance spot exchange on 127.0.0.1 (random free port) that the REAL
 * ccxt `binance` / `pro.binance` classes talk to: REST on `url`, market streams
 * on `wsUrl`. The test owns the clock, the candles, prices and balances, and
 * injects faults per endpoint.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { FaultBook } from './faults.js';
import { DUPLICATE_ORDER, ExchangeState, INSUFFICIENT_BALANCE } from './market-state.js';
import { type ApiRequest, handleApiRequest } from './rest-api.js';
import type {
  FakeBalance,
  FakeCandle,
  FakeExchangeOptions,
  FakeOrder,
  FakeTrade,
  Fault,
  FaultHandle,
  OrderRejectReason,
  RequestLogEntry,
} from './types.js';
import { StreamHub } from './ws-streams.js';

export interface RequestFilter {
  /** '/api/v3/klines' or 'klines'. */
  readonly endpoint?: string;
  readonly method?: string;
}

export interface FakeExchange {
  /** REST base, 'http://127.0.0.1:PORT' (Binance paths below it: /api/v3/...). */
  readonly url: string;
  /** Websocket base, 'ws://127.0.0.1:PORT' (any path; ccxt uses /stream/ws/<n>). */
  readonly wsUrl: string;
  readonly port: number;
  /** Replace the candle series of a market for one interval (default '1m'); the finest series drives the price. */
  setCandles(symbol: string, candles: readonly FakeCandle[], interval?: string): void;
  /** Set the exchange clock: candles before it are served (the one containing it as forming), resting orders fill, streams push. */
  setNow(ms: number): void;
  /** Move the exchange clock forward by `ms`; returns the new time. */
  advance(ms: number): number;
  now(): number;
  /** Set the last price (bid/ask around it); fills resting limit orders it crosses and pushes tickers. */
  setPrice(symbol: string, price: number): void;
  price(symbol: string): number | undefined;
  setBalance(asset: string, free: number, locked?: number): void;
  balance(asset: string): FakeBalance;
  inject(fault: Fault): FaultHandle;
  clearFaults(): void;
  /** Requests seen so far (websocket messages have method 'WS'), optionally filtered. */
  requests(filter?: RequestFilter): RequestLogEntry[];
  clearRequests(): void;
  /** Orders as the exchange holds them (copies). */
  orders(): FakeOrder[];
  trades(): FakeTrade[];
  /** Fill an open order by hand: by orderId or clientOrderId; default all that remains at its limit price. */
  fillOrder(ref: number | string, qty?: number, price?: number): FakeTrade;
  /** Streams subscribed over all websocket connections. */
  wsSubscriptions(): string[];
  /** Resolves once a client has subscribed to `stream` ('btcusdt@kline_1m'). */
  waitForWsSubscription(stream: string, timeoutMs?: number): Promise<void>;
  wsConnections(): number;
  /** Cut every websocket connection abruptly. */
  dropWebsockets(): void;
  /** Stop: ends hung requests, websocket and keep-alive connections. */
  close(): Promise<void>;
}

const REJECTIONS: Record<OrderRejectReason, { code: number; msg: string }> = {
  'insufficient-balance': { code: -2010, msg: INSUFFICIENT_BALANCE },
  'lot-size': { code: -1013, msg: 'Filter failure: LOT_SIZE' },
  'price-filter': { code: -1013, msg: 'Filter failure: PRICE_FILTER' },
  'min-notional': { code: -1013, msg: 'Filter failure: NOTIONAL' },
  'duplicate-order': { code: -2010, msg: DUPLICATE_ORDER },
  'market-closed': { code: -1013, msg: 'Market is closed.' },
};

function pathMatches(path: string, endpoint: string): boolean {
  return path === endpoint || path.endsWith(endpoint.startsWith('/') ? endpoint : `/${endpoint}`);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeExchange(options: FakeExchangeOptions = {}): Promise<FakeExchange> {
  const state = new ExchangeState(options);
  const faults = new FaultBook();
  const log: RequestLogEntry[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const maxKlineLimit = options.maxKlineLimit ?? 1000;
  let seq = 0;
  let closed = false;

  const hub = new StreamHub(
    state,
    (path, message) => {
      log.push({ seq: ++seq, method: 'WS', path, query: message, time: Date.now(), exchangeTime: state.now() });
    },
    options.pushOnSubscribe ?? true,
  );
  state.listener = {
    klines: (marketId, interval, updates) => hub.onKlines(marketId, interval, updates),
    ticker: (marketId) => hub.onTicker(marketId),
  };

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  function send(res: ServerResponse, entry: RequestLogEntry, status: number, body: string, headers = {}): void {
    if (closed || res.destroyed) return;
    entry.status = status;
    res.writeHead(status, { 'Content-Type': 'application/json;charset=UTF-8', ...headers });
    res.end(body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const params: Record<string, string> = Object.fromEntries(url.searchParams);
    const body = await readBody(req);
    if (body !== '') for (const [k, v] of new URLSearchParams(body)) params[k] = v;
    const fault = faults.take(method, url.pathname);
    const entry: RequestLogEntry = {
      seq: ++seq,
      method,
      path: url.pathname,
      query: params,
      time: Date.now(),
      exchangeTime: state.now(),
      ...(fault === undefined ? {} : { fault: fault.kind }),
    };
    log.push(entry);

    let fillFraction = 1;
    switch (fault?.kind) {
      case 'drop-connection':
        req.socket.destroy();
        return;
      case 'hang':
        return; // close() destroys the socket
      case 'delay':
        await wait(fault.ms);
        break;
      case 'rate-limit':
        send(
          res,
          entry,
          fault.status ?? 429,
          JSON.stringify({
            code: -1003,
            msg: 'Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. Please use WebSocket Streams for live updates to avoid polling the API.',
          }),
          { 'Retry-After': String(fault.retryAfterSeconds ?? 1) },
        );
        return;
      case 'server-error':
        send(
          res,
          entry,
          fault.status ?? 503,
          fault.body ?? '<html><body><h1>503 Service Unavailable</h1></body></html>',
          {
            'Content-Type': 'text/html',
          },
        );
        return;
      case 'binance-error':
        send(res, entry, fault.status ?? 400, JSON.stringify({ code: fault.code, msg: fault.msg }));
        return;
      case 'reject-order': {
        const r = REJECTIONS[fault.reason];
        send(res, entry, 400, JSON.stringify(r));
        return;
      }
      case 'partial-fill':
        fillFraction = fault.fraction;
        break;
      default:
        break;
    }

    // like Binance: a signed request processed later than its timestamp + recvWindow is refused, not executed
    const keyed = typeof req.headers['x-mbx-apikey'] === 'string' && req.headers['x-mbx-apikey'] !== '';
    if (keyed && params.signature !== undefined && params.timestamp !== undefined) {
      const window = Number(params.recvWindow ?? 5000);
      if (Date.now() > Number(params.timestamp) + window) {
        send(
          res,
          entry,
          400,
          JSON.stringify({ code: -1021, msg: 'Timestamp for this request is outside of the recvWindow.' }),
        );
        return;
      }
    }
    const apiReq: ApiRequest = { method, path: url.pathname, params, headers: req.headers };
    let status: number;
    let text: string;
    try {
      const answer = handleApiRequest(apiReq, { state, maxKlineLimit, fillFraction });
      status = answer.status;
      text = answer.status === 404 ? '<html><body><h2>404 Not found</h2></body></html>' : JSON.stringify(answer.body);
    } catch (err) {
      // a bug in the fake itself: make it loud
      process.stderr.write(`fake exchange: ${method} ${url.pathname} failed: ${(err as Error).stack}\n`);
      send(res, entry, 500, `fake exchange internal error: ${(err as Error).message}`, {
        'Content-Type': 'text/plain',
      });
      return;
    }

    if (fault?.kind === 'lost-response') {
      // executed, but the client never hears about it
      if ((fault.mode ?? 'hang') === 'drop') req.socket.destroy();
      return;
    }
    if (fault?.kind === 'malformed-json') {
      send(res, entry, 200, text.slice(0, Math.max(1, Math.floor(text.length / 2))));
      return;
    }
    send(res, entry, status, text, status === 404 ? { 'Content-Type': 'text/html' } : {});
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      process.stderr.write(`fake exchange: ${(err as Error).stack}\n`);
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500);
        res.end();
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (req, socket, head) => hub.handleUpgrade(req, socket, head));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const filterRequests = (filter?: RequestFilter) =>
    log.filter(
      (e) =>
        (filter?.method === undefined || e.method === filter.method.toUpperCase()) &&
        (filter?.endpoint === undefined || pathMatches(e.path, filter.endpoint)),
    );

  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    setCandles: (symbol, candles, interval) => state.setCandles(symbol, candles, interval),
    setNow: (ms) => state.setNow(ms),
    advance: (ms) => {
      state.setNow(state.now() + ms);
      return state.now();
    },
    now: () => state.now(),
    setPrice: (symbol, price) => state.setPrice(symbol, price),
    price: (symbol) => state.price(symbol),
    setBalance: (asset, free, locked) => state.setBalance(asset, free, locked),
    balance: (asset) => ({ ...state.balance(asset) }),
    inject: (fault) => faults.add(fault),
    clearFaults: () => faults.clear(),
    requests: (filter) => filterRequests(filter).map((e) => ({ ...e })),
    clearRequests: () => {
      log.length = 0;
    },
    orders: () => state.orders.map((o) => ({ ...o })),
    trades: () => state.trades.map((t) => ({ ...t })),
    fillOrder: (ref, qty, price) => state.fillOrder(ref, qty, price),
    wsSubscriptions: () => hub.subscriptions(),
    waitForWsSubscription: (stream, timeoutMs = 5000) => hub.waitForSubscription(stream, timeoutMs),
    wsConnections: () => hub.connectionCount(),
    dropWebsockets: () => hub.dropAll(),
    close: async () => {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await hub.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
