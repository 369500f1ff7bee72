/**
 * Shared by the HTTP API tests: tiny real models (TensorFlow.js and the
 * bundled Python logistic regression) written as model directories, a server
 * on 127.0.0.1 port 0, a fetch wrapper, certificates made by openssl and an
 * HTTPS client. Everything goes over real HTTP(S) sockets.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Candle } from '../../src/core/types.js';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { buildDataset } from '../../src/features/dataset.js';
import { type ModelFiles, writeModelDirectory } from '../../src/models/model-files.js';
import { trainModel } from '../../src/models/train.js';
import { type ApiKeySpec, createServer, type QuantflowServer, type ServerOptions } from '../../src/server/index.js';

export const ADMIN_KEY = 'admin-key-7f3a9c1e5b2d4f60';
export const PREDICT_KEY = 'predict-key-0c8e2a4f6b1d3e57';
export const READ_KEY = 'read-key-9d1b3f5a7c2e4a68';
export const BOT_KEY = 'bot-key-4e6a8c0b2d5f7a19';

export const TEST_KEYS: ApiKeySpec[] = [
  { label: 'ops', key: ADMIN_KEY, scopes: ['admin'] },
  { label: 'predictor', key: PREDICT_KEY, scopes: ['predict'] },
  { label: 'reader', key: READ_KEY, scopes: ['read'] },
  { label: 'bot', key: BOT_KEY, scopes: 'predict+read' },
];

export interface ModelFixture {
  readonly root: string;
  /** The directory models may be registered from. */
  readonly modelsDir: string;
  readonly candles: readonly Candle[];
  /** Raw feature rows of the candles (model input width). */
  readonly rows: Float32Array;
  readonly width: number;
  /** Files of each trained model (also written as modelsDir/<name>). */
  readonly files: Readonly<Record<'tf-a' | 'tf-b' | 'py-a', ModelFiles>>;
  cleanup(): void;
}

/** Trains two tiny TensorFlow.js models and the bundled Python model on a synthetic market. */
export async function makeModelFixture(options: { python?: boolean } = {}): Promise<ModelFixture> {
  const root = mkdtempSync(path.join(tmpdir(), 'qf-server-'));
  const modelsDir = path.join(root, 'models');
  mkdirSync(modelsDir);
  const candles = generateSyntheticCandles({ mode: 'planted', count: 600, seed: 7 });
  const a = await trainModel({
    candles,
    name: 'tf-a',
    featureSet: 'relative',
    kind: 'tfjs',
    network: { epochs: 2, layers: [8] },
    seed: 3,
  });
  const b = await trainModel({
    candles,
    name: 'tf-b',
    featureSet: 'relative',
    kind: 'tfjs',
    network: { epochs: 2, layers: [8] },
    seed: 4,
  });
  const files: Record<string, ModelFiles> = { 'tf-a': a.files, 'tf-b': b.files };
  await writeModelDirectory(path.join(modelsDir, 'tf-a'), a.files);
  await writeModelDirectory(path.join(modelsDir, 'tf-b'), b.files);
  await a.predictor.dispose();
  await b.predictor.dispose();
  if (options.python !== false) {
    const p = await trainModel({ candles, name: 'py-a', featureSet: 'relative', kind: 'python' });
    files['py-a'] = p.files;
    await writeModelDirectory(path.join(modelsDir, 'py-a'), p.files);
    await p.predictor.dispose();
  }
  const ds = buildDataset(candles, { horizon: 1, featureSet: 'relative' });
  return {
    root,
    modelsDir,
    candles,
    rows: ds.features,
    width: ds.cols,
    files: files as ModelFixture['files'],
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Row `i` of the fixture as a plain array. */
export function row(fx: ModelFixture, i: number): number[] {
  return Array.from(fx.rows.subarray(i * fx.width, (i + 1) * fx.width));
}

/** A candle as a ccxt OHLCV array. */
export function ohlcv(c: Candle): number[] {
  return [c.timestamp, c.open, c.high, c.low, c.close, c.volume];
}

export interface TestServer {
  readonly server: QuantflowServer;
  readonly url: string;
  /** Every JSON log line written so far. */
  readonly logs: string[];
  close(): Promise<void>;
}

let registries = 0;

/** A server with the test keys and a fresh registry under the fixture's root, listening on 127.0.0.1:0. */
export async function startServer(fx: ModelFixture, options: Partial<ServerOptions> = {}): Promise<TestServer> {
  const logs: string[] = [];
  const server = await createServer({
    registry: path.join(fx.root, `registry-${process.pid}-${++registries}`),
    modelsDir: fx.modelsDir,
    apiKeys: TEST_KEYS,
    env: {},
    logger: { level: 'info', stream: { write: (line: string) => void logs.push(line) } },
    ...options,
  });
  const url = await server.listen({ port: 0, host: '127.0.0.1' });
  return { server, url, logs, close: () => server.close() };
}

export interface ApiResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers are inspected freely in tests
  readonly json: any;
}

export interface RequestOptions {
  readonly key?: string;
  readonly body?: unknown;
  /** Sent as is (with content-type application/json unless given in headers). */
  readonly raw?: string | Uint8Array;
  readonly headers?: Record<string, string>;
}

export async function api(
  url: string,
  method: string,
  route: string,
  options: RequestOptions = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  let body: string | Uint8Array | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${url}${route}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Registers modelsDir/<dir> as `name` (admin key); returns the response. */
export function registerDir(
  url: string,
  name: string,
  dir: string,
  type: 'tfjs' | 'python' | 'logistic' = 'tfjs',
  activate?: boolean,
): Promise<ApiResponse> {
  return api(url, 'POST', '/api/ml/models', {
    key: ADMIN_KEY,
    body: { name, source: { type, path: dir }, ...(activate !== undefined ? { activate } : {}) },
  });
}

/** Asserts the server still answers /health. */
export async function expectHealthy(url: string): Promise<void> {
  const res = await fetch(`${url}/health`);
  if (res.status !== 200) throw new Error(`/health answered ${res.status}`);
  const body = (await res.json()) as { status?: string };
  if (body.status !== 'ok') throw new Error(`/health says ${JSON.stringify(body)}`);
}

/** A Python model script built on the bundled logistic regression; `predictBody` replaces its predict. */
export function logisticVariant(predictBody: string): string {
  return [
    'from logistic_model import LogisticModel',
    'from quantflow_worker import serve',
    '',
    'class Variant(LogisticModel):',
    '    def predict(self, rows):',
    ...predictBody.split('\n').map((l) => `        ${l}`),
    '',
    'if __name__ == "__main__":',
    '    serve(Variant)',
    '',
  ].join('\n');
}

/**
 * Trains a Python model with `scriptDir/scriptName` (written from `source`)
 * and writes it as modelsDir/<modelDir>.
 */
export async function trainPythonModel(
  fx: ModelFixture,
  scriptDir: string,
  scriptName: string,
  source: string,
  modelDir: string,
): Promise<string> {
  mkdirSync(scriptDir, { recursive: true });
  const script = path.join(scriptDir, scriptName);
  writeFileSync(script, source);
  const trained = await trainModel({
    candles: [...fx.candles],
    name: modelDir,
    featureSet: 'relative',
    kind: 'python',
    python: { script },
  });
  await trained.predictor.dispose();
  const dir = path.join(fx.modelsDir, modelDir);
  await writeModelDirectory(dir, trained.files);
  return dir;
}

export interface TestCertificate {
  readonly cert: string;
  readonly key: string;
}

/** A self-signed P-256 certificate for 127.0.0.1 and localhost, made by openssl in `dir` (valid one day). */
export function makeCertificate(dir: string, name: string, subject = 'localhost'): TestCertificate {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-subj',
      `/CN=${subject}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-days',
      '1',
    ],
    { stdio: 'pipe' },
  );
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

export interface FreshRequestOptions {
  readonly method?: string;
  readonly key?: string;
  readonly body?: unknown;
  /** Trusted authority (the server's self-signed certificate). */
  readonly ca?: string;
  /** A client certificate for mutual TLS. */
  readonly clientCert?: TestCertificate;
}

/**
 * One request on a fresh connection (node:http or node:https by the URL, so a
 * cluster hands each to the next worker; over HTTPS trusting `ca`).
 */
export function freshApi(url: string, route: string, options: FreshRequestOptions = {}): Promise<ApiResponse> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      `${url}${route}`,
      {
        method: options.method ?? (body === undefined ? 'GET' : 'POST'),
        agent: false,
        ...(options.ca !== undefined ? { ca: options.ca } : {}),
        ...(options.clientCert !== undefined ? { cert: options.clientCert.cert, key: options.clientCert.key } : {}),
        headers: {
          ...(options.key !== undefined ? { authorization: `Bearer ${options.key}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
          resolve({ status: res.statusCode ?? 0, headers, text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}
