/**
 * Exchange API credentials come from environment variables only, never from
 * the command line (where `ps` and shell history would show them), and never
 * reach a log line or an error message: `Redactor` masks them (and request
 * signatures) in every text this layer writes.
 *
 * Lookup, per field, first match wins:
 *   QUANTFLOW_<EXCHANGE>_API_KEY / _API_SECRET / _API_PASSWORD   (EXCHANGE = ccxt id, upper case)
 *   QUANTFLOW_API_KEY / QUANTFLOW_API_SECRET / QUANTFLOW_API_PASSWORD
 */
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

export interface ExchangeCredentials {
  readonly apiKey: string;
  readonly secret: string;
  /** Some exchanges (OKX, KuCoin, ...) call it passphrase. */
  readonly password?: string;
}

export const CREDENTIAL_ENV = {
  apiKey: 'QUANTFLOW_API_KEY',
  secret: 'QUANTFLOW_API_SECRET',
  password: 'QUANTFLOW_API_PASSWORD',
} as const;

/** `QUANTFLOW_<EXCHANGE>_API_KEY` etc. for one ccxt exchange id. */
export function exchangeCredentialEnv(exchangeId: string): { apiKey: string; secret: string; password: string } {
  const id = exchangeId.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  return {
    apiKey: `QUANTFLOW_${id}_API_KEY`,
    secret: `QUANTFLOW_${id}_API_SECRET`,
    password: `QUANTFLOW_${id}_API_PASSWORD`,
  };
}

/**
 * Credentials for `exchangeId` from `env`, or undefined when none are set.
 * A key without a secret (or the reverse) is a ConfigError naming the missing
 * variable, never showing a value.
 */
export function credentialsFromEnv(
  exchangeId: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ExchangeCredentials | undefined {
  const specific = exchangeCredentialEnv(exchangeId);
  const pick = (field: 'apiKey' | 'secret' | 'password'): { value: string; name: string } | undefined => {
    for (const name of [specific[field], CREDENTIAL_ENV[field]]) {
      const value = env[name];
      if (value !== undefined && value.trim() !== '') return { value: value.trim(), name };
    }
    return undefined;
  };
  const apiKey = pick('apiKey');
  const secret = pick('secret');
  const password = pick('password');
  if (apiKey === undefined && secret === undefined) return undefined;
  if (apiKey === undefined) {
    throw new ConfigError(
      `${secret?.name} is set but no API key: set ${specific.apiKey} or ${CREDENTIAL_ENV.apiKey} too`,
      { field: 'apiKey' },
    );
  }
  if (secret === undefined) {
    throw new ConfigError(
      `${apiKey.name} is set but no API secret: set ${specific.secret} or ${CREDENTIAL_ENV.secret} too`,
      { field: 'secret' },
    );
  }
  return {
    apiKey: apiKey.value,
    secret: secret.value,
    ...(password !== undefined ? { password: password.value } : {}),
  };
}

const MASK = '***';
/** Query-string signatures and signed headers that ccxt may put in an error message. */
const SIGNATURE = /((?:signature|sign|apiKey|api_key|X-MBX-APIKEY)["']?\s*[=:]\s*["']?)[A-Za-z0-9+/=_-]{8,}/gi;

/** Masks secrets in text and structured log fields. */
export class Redactor {
  private readonly secrets: readonly string[];

  constructor(secrets: readonly (string | undefined)[] = []) {
    // Longest first, so a secret that contains another is masked whole. Very short values
    // (a test's 'x') would mask ordinary words, so they are left alone.
    this.secrets = [...new Set(secrets.filter((s): s is string => typeof s === 'string' && s.length >= 4))].sort(
      (a, b) => b.length - a.length,
    );
  }

  static of(credentials: ExchangeCredentials | undefined): Redactor {
    return new Redactor(credentials ? [credentials.apiKey, credentials.secret, credentials.password] : []);
  }

  text(value: string): string {
    let out = value;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join(MASK);
    return out.replace(SIGNATURE, `$1${MASK}`);
  }

  /** A copy of `value` with every string masked (plain objects and arrays walked; errors turned into text). */
  value(value: unknown, depth = 0): unknown {
    if (typeof value === 'string') return this.text(value);
    if (value instanceof Error) return this.text(`${value.name}: ${value.message}`);
    if (depth > 6 || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v) => this.value(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = this.value(v, depth + 1);
    return out;
  }

  /** An Error whose message (and name) are masked; the original is kept as `cause` only when it held no secret. */
  error(err: unknown): Error {
    const raw = err instanceof Error ? err : new Error(String(err));
    const message = this.text(raw.message);
    if (message === raw.message) return raw;
    const masked = new Error(message);
    masked.name = raw.name;
    return masked;
  }

  logger(inner: Logger): Logger {
    const wrap =
      (fn: (m: string, f?: Record<string, unknown>) => void) => (message: string, fields?: Record<string, unknown>) =>
        fn(this.text(message), fields === undefined ? undefined : (this.value(fields) as Record<string, unknown>));
    return {
      debug: wrap(inner.debug.bind(inner)),
      info: wrap(inner.info.bind(inner)),
      warn: wrap(inner.warn.bind(inner)),
      error: wrap(inner.error.bind(inner)),
    };
  }
}
