/**
 * The API over real HTTPS on 127.0.0.1 with certificates openssl makes in the
 * test: HTTP/1.1 and HTTP/2, mutual TLS, and the refusal of plain HTTP on a
 * non-loopback address.
 */
import { connect as http2Connect } from 'node:http2';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { createServer, isLoopback } from '../../src/server/index.js';
import {
  ADMIN_KEY,
  api,
  BOT_KEY,
  freshApi,
  type ModelFixture,
  makeCertificate,
  makeModelFixture,
  row,
  startServer,
  TEST_KEYS,
  type TestCertificate,
} from './helpers.js';

let fx: ModelFixture;
let server: TestCertificate;
let client: TestCertificate;

beforeAll(async () => {
  fx = await makeModelFixture({ python: false });
  server = makeCertificate(fx.root, 'server');
  client = makeCertificate(fx.root, 'client', 'bot-1');
});
afterAll(() => fx?.cleanup());

describe('HTTP API over TLS', () => {
  it('serves HTTPS with the generated certificate; plain HTTP and untrusting clients get nothing', async () => {
    const s = await startServer(fx, { tls: { cert: server.cert, key: server.key } });
    try {
      expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const health = await freshApi(s.url, '/health', { ca: server.cert });
      expect(health.status).toBe(200);
      const reg = await freshApi(s.url, '/api/ml/models', {
        ca: server.cert,
        key: ADMIN_KEY,
        body: { name: 'alpha', source: { type: 'tfjs', path: 'tf-a' } },
      });
      expect(reg.status, reg.text).toBe(201);
      const p = await freshApi(s.url, '/api/ml/predict', {
        ca: server.cert,
        key: BOT_KEY,
        body: { model: 'alpha', features: row(fx, 5) },
      });
      expect(p.status, p.text).toBe(200);
      expect(p.json.model).toBe('alpha@v1');

      await expect(freshApi(s.url, '/health')).rejects.toThrow(/self[- ]signed/i); // not trusted without the CA
      await expect(api(s.url.replace('https:', 'http:'), 'GET', '/health')).rejects.toThrow();
    } finally {
      await s.close();
    }
  });

  it('speaks HTTP/2 when asked, and HTTP/1.1 to clients that do not negotiate it', async () => {
    const s = await startServer(fx, { tls: { cert: server.cert, key: server.key, http2: true } });
    try {
      const session = http2Connect(s.url, { ca: server.cert });
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const stream = session.request({ ':path': '/health' });
        let body = '';
        let status = 0;
        stream.on('response', (headers) => {
          status = Number(headers[':status']);
        });
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          body += chunk;
        });
        stream.on('end', () => resolve({ status, body }));
        stream.on('error', reject);
      });
      session.close();
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body).status).toBe('ok');
      expect((await freshApi(s.url, '/health', { ca: server.cert })).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('requires a client certificate signed by the given authority (mutual TLS)', async () => {
    const s = await startServer(fx, {
      tls: { cert: server.cert, key: server.key, ca: client.cert, requireClientCert: true },
    });
    try {
      expect((await freshApi(s.url, '/health', { ca: server.cert, clientCert: client })).status).toBe(200);
      await expect(freshApi(s.url, '/health', { ca: server.cert })).rejects.toThrow();
      const stranger = makeCertificate(fx.root, 'stranger', 'someone-else');
      await expect(freshApi(s.url, '/health', { ca: server.cert, clientCert: stranger })).rejects.toThrow();
    } finally {
      await s.close();
    }
  });

  it('refuses plain HTTP on a non-loopback address unless told the network is trusted', async () => {
    expect(['127.0.0.1', '127.8.9.1', '::1', 'localhost'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '::', '10.1.2.3', '192.168.1.5', 'example.org'].some(isLoopback)).toBe(false);
    const plain = await createServer({
      registry: path.join(fx.root, 'registry-plain'),
      apiKeys: TEST_KEYS,
      env: {},
      logger: false,
    });
    try {
      const err = await plain.listen({ host: '0.0.0.0', port: 0 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/refusing plain HTTP on 0\.0\.0\.0.*--tls-cert.*--insecure-plaintext/);
      expect(plain.url).toBeUndefined();
    } finally {
      await plain.close();
    }
  });
});
