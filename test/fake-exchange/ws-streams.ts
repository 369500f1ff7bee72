/**
 * Binance market streams over websocket, as ccxt.pro's binance subscribes to them:
 * a connection to `<ws url>/<n>` followed by {"method":"SUBSCRIBE","params":[...],"id":n}.
 * Supported streams: `<symbol>@kline_<interval>`, `<symbol>@ticker`, `<symbol>@miniTicker`,
 * `<symbol>@bookTicker`. Updates are pushed when the test moves the clock or the price.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import type { ExchangeState, KlineView, Market } from './market-state.js';

const n8 = (n: number): string => n.toFixed(8);

export type WsLogger = (path: string, message: Record<string, string>) => void;

export class StreamHub {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly subs = new Map<WebSocket, Set<string>>();
  private waiters: Array<{ stream: string; resolve: () => void }> = [];
  private bookUpdateId = 1;

  constructor(
    private readonly state: ExchangeState,
    private readonly log: WsLogger,
    private readonly pushOnSubscribe: boolean,
  ) {}

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, path));
  }

  private onConnection(ws: WebSocket, path: string): void {
    const streams = new Set<string>();
    this.subs.set(ws, streams);
    // raw stream urls: /ws/btcusdt@kline_1m
    const last = path.split('/').pop() ?? '';
    if (last.includes('@')) this.subscribe(ws, streams, [last]);
    ws.on('message', (data) => this.onMessage(ws, streams, path, data.toString()));
    ws.on('close', () => this.subs.delete(ws));
    ws.on('error', () => this.subs.delete(ws));
  }

  private onMessage(ws: WebSocket, streams: Set<string>, path: string, text: string): void {
    let msg: { method?: unknown; params?: unknown; id?: unknown };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      ws.send(JSON.stringify({ code: 3, msg: 'Invalid JSON: expected value at line 1 column 1' }));
      return;
    }
    const params = Array.isArray(msg.params) ? msg.params.map(String) : [];
    this.log(path, { method: String(msg.method), params: params.join(','), id: String(msg.id) });
    const id = msg.id ?? null;
    switch (msg.method) {
      case 'SUBSCRIBE':
        ws.send(JSON.stringify({ result: null, id }));
        this.subscribe(ws, streams, params);
        return;
      case 'UNSUBSCRIBE':
        for (const p of params) streams.delete(p);
        ws.send(JSON.stringify({ result: null, id }));
        return;
      case 'LIST_SUBSCRIPTIONS':
        ws.send(JSON.stringify({ result: [...streams], id }));
        return;
      default:
        ws.send(JSON.stringify({ code: 2, msg: `Invalid request: unknown method '${String(msg.method)}'`, id }));
    }
  }

  private subscribe(ws: WebSocket, streams: Set<string>, params: readonly string[]): void {
    for (const p of params) streams.add(p);
    this.waiters = this.waiters.filter((w) => {
      if (!params.includes(w.stream)) return true;
      w.resolve();
      return false;
    });
    if (!this.pushOnSubscribe) return;
    for (const stream of params) {
      const [lowerId, channel] = stream.split('@');
      const market = this.marketOf(lowerId);
      if (market === undefined || channel === undefined) continue;
      if (channel.startsWith('kline_')) {
        const k = this.state.currentKline(market.id, channel.slice('kline_'.length));
        if (k !== undefined) send(ws, klineEvent(market, channel.slice('kline_'.length), k, this.state.now()));
      } else if (this.state.price(market.id) !== undefined) {
        const event = this.tickerEvent(market, channel);
        if (event !== undefined) send(ws, event);
      }
    }
  }

  private marketOf(lowerId: string | undefined): Market | undefined {
    if (lowerId === undefined) return undefined;
    return this.state.markets.get(lowerId.toUpperCase());
  }

  /** Push kline updates to subscribers of `<id>@kline_<interval>`. */
  onKlines(marketId: string, interval: string, updates: readonly KlineView[]): void {
    const stream = `${marketId.toLowerCase()}@kline_${interval}`;
    const market = this.state.markets.get(marketId);
    if (market === undefined) return;
    for (const [ws, streams] of this.subs) {
      if (!streams.has(stream)) continue;
      for (const k of updates) send(ws, klineEvent(market, interval, k, this.state.now()));
    }
  }

  /** Push ticker / miniTicker / bookTicker updates for a market. */
  onTicker(marketId: string): void {
    const market = this.state.markets.get(marketId);
    if (market === undefined || this.state.price(marketId) === undefined) return;
    const lower = marketId.toLowerCase();
    for (const [ws, streams] of this.subs) {
      for (const channel of ['ticker', 'miniTicker', 'bookTicker']) {
        if (!streams.has(`${lower}@${channel}`)) continue;
        const event = this.tickerEvent(market, channel);
        if (event !== undefined) send(ws, event);
      }
    }
  }

  private tickerEvent(market: Market, channel: string): unknown {
    const now = this.state.now();
    const { bid, ask } = this.state.bidAsk(market);
    if (channel === 'bookTicker') {
      return { u: this.bookUpdateId++, s: market.id, b: n8(bid), B: '1.00000000', a: n8(ask), A: '1.00000000' };
    }
    const s = this.state.stats24h(market);
    if (channel === 'miniTicker') {
      return {
        e: '24hrMiniTicker',
        E: now,
        s: market.id,
        c: n8(s.last),
        o: n8(s.open),
        h: n8(s.high),
        l: n8(s.low),
        v: n8(s.volume),
        q: n8(s.quoteVolume),
      };
    }
    if (channel !== 'ticker') return undefined;
    const change = s.last - s.open;
    return {
      e: '24hrTicker',
      E: now,
      s: market.id,
      p: n8(change),
      P: (s.open > 0 ? (change / s.open) * 100 : 0).toFixed(3),
      w: n8(s.volume > 0 ? s.quoteVolume / s.volume : s.last),
      x: n8(s.open),
      c: n8(s.last),
      Q: '0.00100000',
      b: n8(bid),
      B: '1.00000000',
      a: n8(ask),
      A: '1.00000000',
      o: n8(s.open),
      h: n8(s.high),
      l: n8(s.low),
      v: n8(s.volume),
      q: n8(s.quoteVolume),
      O: now - 86_400_000,
      C: now,
      F: 1,
      L: 1 + Math.round(s.volume),
      n: 1 + Math.round(s.volume),
    };
  }

  /** Streams currently subscribed, over all connections. */
  subscriptions(): string[] {
    const all = new Set<string>();
    for (const streams of this.subs.values()) for (const s of streams) all.add(s);
    return [...all];
  }

  /** Resolves once some connection has subscribed to `stream` (immediately if one has). */
  waitForSubscription(stream: string, timeoutMs: number): Promise<void> {
    if (this.subscriptions().includes(stream)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`fake exchange: no websocket subscription to '${stream}' within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push({ stream, resolve: done });
    });
  }

  connectionCount(): number {
    return this.subs.size;
  }

  /** Cut every websocket connection abruptly (no close frame), as a network failure would. */
  dropAll(): void {
    for (const ws of this.subs.keys()) ws.terminate();
    this.subs.clear();
  }

  close(): Promise<void> {
    this.dropAll();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}

function send(ws: WebSocket, event: unknown): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(event));
}

function klineEvent(market: Market, interval: string, k: KlineView, now: number): unknown {
  const c = k.candle;
  return {
    e: 'kline',
    E: now,
    s: market.id,
    k: {
      t: c.timestamp,
      T: k.closeTime,
      s: market.id,
      i: interval,
      f: 100,
      L: 100 + Math.round(c.volume * 10),
      o: n8(c.open),
      c: n8(c.close),
      h: n8(c.high),
      l: n8(c.low),
      v: n8(c.volume),
      n: Math.round(c.volume * 10),
      x: k.closed,
      q: n8(c.volume * c.close),
      V: n8(c.volume / 2),
      Q: n8((c.volume * c.close) / 2),
      B: '0',
    },
  };
}
