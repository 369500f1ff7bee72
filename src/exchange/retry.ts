/**
 * Which ccxt failures are worth another try, and how long to wait.
 *
 * Transient (retried with exponential backoff, jittered unless the policy says
 * `jitter: false`): ccxt's NetworkError
 * family (RequestTimeout, DDoSProtection = HTTP 429/418, ExchangeNotAvailable =
 * 5xx, RateLimitExceeded, InvalidNonce), BadResponse, any other OperationFailed,
 * and an answer that was not valid JSON (ccxt 4.5 raises no BadResponse for it:
 * it returns [] or {} or throws a TypeError, so the raw body is checked).
 *
 * Permanent (never retried): the ExchangeError family — InsufficientFunds,
 * InvalidOrder, BadRequest, BadSymbol, AuthenticationError, PermissionDenied,
 * NotSupported, ... — and anything that is not a ccxt error.
 *
 * A Retry-After header (seconds or an HTTP date) on the failed answer sets a
 * floor under the delay (capped by the policy's `maxRetryAfterMs`).
 *
 * Used by the live/paper adapter (ccxt-broker.ts, market-source.ts) and by the
 * candle download (candle-download.ts).
 */
import ccxt, { type Exchange } from 'ccxt';
import type { Logger } from '../core/logger.js';

export interface RetryPolicy {
  /** Retries after the first attempt. Default 5. */
  readonly maxRetries: number;
  /** Delay before the first retry (ms), doubled each time. Default 500. */
  readonly initialDelayMs: number;
  /** Cap on a computed delay (ms). A longer Retry-After is still honoured, up to `maxRetryAfterMs`. Default 30 s. */
  readonly maxDelayMs: number;
  /** Cap on a delay a Retry-After header asks for (ms). Default 10 minutes. */
  readonly maxRetryAfterMs?: number;
  /** Spread the delays with "equal jitter" (see `backoffDelay`). Default true; false waits the exact exponential step. */
  readonly jitter?: boolean;
}

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 5, initialDelayMs: 500, maxDelayMs: 30_000 };

const RETRY_AFTER_CAP_MS = 600_000;

/** What the exchange's last HTTP answer was, for the checks ccxt does not do. */
type ExchangeLike = Pick<Exchange, 'id'> & {
  last_http_response?: unknown;
  last_response_headers?: unknown;
  enableLastHttpResponse?: boolean;
};

/** True when the last HTTP answer's body is not valid JSON (a truncated or garbled answer). */
export function lastAnswerUnparsable(exchange: ExchangeLike): boolean {
  if (exchange.enableLastHttpResponse === false) return false;
  const body = exchange.last_http_response;
  if (typeof body !== 'string' || body === '') return false;
  const first = body.trimStart()[0];
  // HTML error pages come with a 5xx, which ccxt already maps; only JSON-looking bodies are checked.
  if (first !== '{' && first !== '[') return false;
  try {
    JSON.parse(body);
    return false;
  } catch {
    return true;
  }
}

export type ErrorKind = 'transient' | 'permanent';

export function classifyError(err: unknown, exchange?: ExchangeLike): ErrorKind {
  if (err instanceof ccxt.ExchangeError) return 'permanent';
  if (err instanceof ccxt.OperationFailed) return 'transient'; // NetworkError, RateLimitExceeded, BadResponse, ...
  if (err instanceof UnparsableAnswerError) return 'transient';
  if ((err instanceof TypeError || err instanceof SyntaxError) && exchange !== undefined) {
    return lastAnswerUnparsable(exchange) ? 'transient' : 'permanent';
  }
  return 'permanent';
}

/** ccxt parsed nothing out of an answer that was not JSON; raised by our checks, always transient. */
export class UnparsableAnswerError extends Error {
  constructor(what: string) {
    super(`${what}: the exchange answered with invalid JSON`);
    this.name = 'UnparsableAnswerError';
  }
}

/** Retry-After of the last answer, in ms (seconds or an HTTP date), if any. */
export function retryAfterMs(exchange: ExchangeLike, now = Date.now()): number | undefined {
  const headers = exchange.last_response_headers as Record<string, unknown> | undefined;
  if (headers === undefined || headers === null || typeof headers !== 'object') return undefined;
  let raw: unknown;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === 'retry-after') raw = v;
  if (raw === undefined || raw === null || raw === '') return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(String(raw));
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

/**
 * Delay before retry number `attempt` (0-based): "equal jitter" — half of the
 * exponential step fixed, half random — so retries of many clients spread out
 * but never come back sooner than half the step. With `jitter: false`, the step itself.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const step = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** attempt);
  if (policy.jitter === false) return step;
  return Math.round(step / 2 + random() * (step / 2));
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface RetryContext {
  readonly exchange: ExchangeLike;
  readonly policy: RetryPolicy;
  readonly log: Logger;
  readonly signal?: AbortSignal;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly random?: () => number;
  /** Called before each wait (for counters and tests). */
  readonly onRetry?: (info: { what: string; attempt: number; delayMs: number; error: unknown }) => void;
}

/** Thrown by `withRetry` when the signal aborted it before it could finish. */
export class RetryAborted extends Error {
  constructor(what: string) {
    super(`${what}: stopped`);
    this.name = 'RetryAborted';
  }
}

/** The delay to wait after `err` on `attempt` (0-based), Retry-After included. */
export function retryDelay(err: unknown, attempt: number, ctx: RetryContext): number {
  const jittered = backoffDelay(attempt, ctx.policy, ctx.random);
  const after = err instanceof ccxt.OperationFailed ? retryAfterMs(ctx.exchange) : undefined;
  if (after === undefined) return jittered;
  return Math.max(jittered, Math.min(after, ctx.policy.maxRetryAfterMs ?? RETRY_AFTER_CAP_MS));
}

/**
 * Runs `fn`, retrying transient failures with backoff. The last error (or a
 * permanent one at once) is rethrown unchanged, so callers can still tell
 * ccxt's classes apart. `isTransient` overrides the classification.
 */
export async function withRetry<T>(
  what: string,
  fn: () => Promise<T>,
  ctx: RetryContext,
  isTransient: (err: unknown) => boolean = (err) => classifyError(err, ctx.exchange) === 'transient',
): Promise<T> {
  const sleep = ctx.sleep ?? abortableSleep;
  for (let attempt = 0; ; attempt++) {
    if (ctx.signal?.aborted) throw new RetryAborted(what);
    try {
      return await fn();
    } catch (err) {
      if (!isTransient(err) || attempt >= ctx.policy.maxRetries) throw err;
      const delayMs = retryDelay(err, attempt, ctx);
      ctx.onRetry?.({ what, attempt: attempt + 1, delayMs, error: err });
      ctx.log.warn('transient exchange error, retrying', {
        exchange: ctx.exchange.id,
        what,
        error: err instanceof Error ? `${err.name}: ${err.message.slice(0, 200)}` : String(err),
        attempt: attempt + 1,
        delayMs,
      });
      await sleep(delayMs, ctx.signal);
    }
  }
}
