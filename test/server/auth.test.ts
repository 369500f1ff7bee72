/**
 * Access control over real HTTP: every route's scope (401 without a valid
 * key, 403 with a key lacking the scope), both headers, keys from options,
 * the environment and a keys file (sha256 or plaintext), keys never logged,
 * and refusing to start without keys unless --insecure-no-auth.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { createServer, hashApiKey } from '../../src/server/index.js';
import {
  ADMIN_KEY,
  api,
  BOT_KEY,
  type ModelFixture,
  makeModelFixture,
  PREDICT_KEY,
  READ_KEY,
  registerDir,
  row,
  startServer,
  TEST_KEYS,
  type TestServer,
} from './helpers.js';

let fx: ModelFixture;
let s: TestServer;

beforeAll(async () => {
  fx = await makeModelFixture({ python: false });
  s = await startServer(fx);
  const reg = await registerDir(s.url, 'alpha', 'tf-a');
  expect(reg.status).toBe(201);
});

afterAll(async () => {
  await s?.close();
  fx?.cleanup();
});

type Scope = 'read' | 'predict' | 'admin';
interface RouteCase {
  readonly method: string;
  readonly route: string;
  readonly scope: Scope;
  readonly body?: unknown;
}

const ROUTES: RouteCase[] = [
  { method: 'GET', route: '/api/ml/models', scope: 'read' },
  { method: 'GET', route: '/api/ml/models/alpha', scope: 'read' },
  { method: 'GET', route: '/api/ml/stats', scope: 'read' },
  { method: 'GET', route: '/metrics', scope: 'read' },
  { method: 'POST', route: '/api/ml/predict', scope: 'predict', body: { model: 'alpha', features: [] } },
  {
    method: 'POST',
    route: '/api/ml/models',
    scope: 'admin',
    body: { name: 'x', source: { type: 'tfjs', path: 'tf-b' } },
  },
  { method: 'POST', route: '/api/ml/models/alpha/promote', scope: 'admin', body: { version: 'v1' } },
  { method: 'POST', route: '/api/ml/models/alpha/rollback', scope: 'admin' },
  { method: 'DELETE', route: '/api/ml/models/nothing', scope: 'admin' },
  { method: 'DELETE', route: '/api/ml/models/nothing/versions/v1', scope: 'admin' },
];

const KEYS: Record<string, { key: string; scopes: Scope[] }> = {
  admin: { key: ADMIN_KEY, scopes: ['admin', 'predict', 'read'] },
  predict: { key: PREDICT_KEY, scopes: ['predict'] },
  read: { key: READ_KEY, scopes: ['read'] },
  'predict+read': { key: BOT_KEY, scopes: ['predict', 'read'] },
};

describe('HTTP API: access control', () => {
  it('/health needs no key', async () => {
    expect((await api(s.url, 'GET', '/health')).status).toBe(200);
  });

  for (const r of ROUTES) {
    it(`${r.method} ${r.route} needs '${r.scope}': 401 without a valid key, 403 without the scope`, async () => {
      const none = await api(s.url, r.method, r.route, r.body !== undefined ? { body: r.body } : {});
      expect(none.status).toBe(401);
      expect(none.json.error).toMatchObject({ code: 'UNAUTHORIZED', field: 'authorization' });
      expect(none.headers.get('www-authenticate')).toBe('Bearer');

      const wrong = await api(s.url, r.method, r.route, { key: 'not-a-key-at-all-123456', body: r.body });
      expect(wrong.status).toBe(401);
      expect(wrong.json.error.message).toBe('unknown API key');

      for (const [name, k] of Object.entries(KEYS)) {
        const res = await api(s.url, r.method, r.route, { key: k.key, body: r.body });
        if (k.scopes.includes(r.scope)) {
          expect([401, 403], `${name} key on ${r.method} ${r.route}`).not.toContain(res.status);
          expect(res.status, `${name}: ${res.text}`).toBeLessThan(500);
        } else {
          expect(res.status, `${name} key on ${r.method} ${r.route}`).toBe(403);
          expect(res.json.error.code).toBe('FORBIDDEN');
          expect(res.json.error.message).toContain(`lacks the '${r.scope}' scope`);
        }
      }
    });
  }

  it('accepts X-API-Key and a lower-case bearer scheme; refuses other schemes', async () => {
    const body = { model: 'alpha', features: row(fx, 1) };
    const viaHeader = await api(s.url, 'POST', '/api/ml/predict', { body, headers: { 'x-api-key': PREDICT_KEY } });
    expect(viaHeader.status).toBe(200);
    const lower = await api(s.url, 'POST', '/api/ml/predict', {
      body,
      headers: { authorization: `bearer ${PREDICT_KEY}` },
    });
    expect(lower.status).toBe(200);
    const basic = await api(s.url, 'POST', '/api/ml/predict', {
      body,
      headers: { authorization: `Basic ${Buffer.from(`x:${PREDICT_KEY}`).toString('base64')}` },
    });
    expect(basic.status).toBe(401);
  });

  it('never writes a key to the logs, only its label', async () => {
    await api(s.url, 'GET', '/health', { headers: { authorization: `Bearer ${ADMIN_KEY}`, 'x-api-key': READ_KEY } });
    const text = s.logs.join('');
    for (const k of [ADMIN_KEY, PREDICT_KEY, READ_KEY, BOT_KEY, 'not-a-key-at-all-123456'])
      expect(text).not.toContain(k);
    const lines = s.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = lines.filter((l) => l.msg === 'request');
    expect(requests.length).toBeGreaterThan(40);
    expect(requests.some((l) => l.key === 'bot' && l.route === '/api/ml/predict')).toBe(true);
    expect(requests.some((l) => l.key === 'ops' && l.status === 201)).toBe(true);
    for (const l of requests) {
      expect(l).toMatchObject({ method: expect.any(String), route: expect.any(String), status: expect.any(Number) });
      expect(typeof l.ms).toBe('number');
    }
  });

  it('reads keys from a keys file (sha256 or plaintext) and from QUANTFLOW_API_KEYS', async () => {
    const file = path.join(fx.root, 'keys.json');
    const hashed = 'hashed-key-5a7c9e1b3d5f7a9c';
    writeFileSync(
      file,
      JSON.stringify({
        keys: [
          { id: 'hashed-bot', sha256: hashApiKey(hashed), scopes: ['predict'] },
          { id: 'plain-reader', key: 'plain-key-2b4d6f8a0c2e4a6c', scopes: 'read' },
        ],
      }),
    );
    const other = await startServer(fx, {
      registry: s.server.registry.root,
      apiKeys: [],
      keysFile: file,
      env: { QUANTFLOW_API_KEYS: 'env-admin-key-1a2b3c4d5e6f:admin,env-bot-key-6f5e4d3c2b1a:predict+read' },
    });
    try {
      const body = { model: 'alpha', features: row(fx, 2) };
      expect((await api(other.url, 'POST', '/api/ml/predict', { key: hashed, body })).status).toBe(200);
      expect((await api(other.url, 'GET', '/api/ml/stats', { key: hashed })).status).toBe(403);
      expect((await api(other.url, 'GET', '/api/ml/stats', { key: 'plain-key-2b4d6f8a0c2e4a6c' })).status).toBe(200);
      expect((await api(other.url, 'POST', '/api/ml/predict', { key: 'env-bot-key-6f5e4d3c2b1a', body })).status).toBe(
        200,
      );
      const admin = await api(other.url, 'DELETE', '/api/ml/models/none', { key: 'env-admin-key-1a2b3c4d5e6f' });
      expect(admin.status).toBe(404);
      expect((await api(other.url, 'POST', '/api/ml/predict', { key: ADMIN_KEY, body })).status).toBe(401);
      const labels = other.logs
        .map((l) => JSON.parse(l) as { msg: string; key?: string })
        .filter((l) => l.msg === 'request')
        .map((l) => l.key);
      expect(labels).toEqual(expect.arrayContaining(['hashed-bot', 'plain-reader', 'env-2', 'env-1']));
      expect(other.logs.join('')).not.toContain(hashed);
    } finally {
      await other.close();
    }
  });

  it('refuses to start without keys unless insecureNoAuth, which it logs loudly', async () => {
    const registry = path.join(fx.root, 'open-registry');
    await expect(createServer({ registry, env: {}, logger: false })).rejects.toThrow(ConfigError);
    await expect(createServer({ registry, env: {}, logger: false })).rejects.toThrow(/no API keys configured/);
    await expect(
      createServer({ registry, env: {}, apiKeys: TEST_KEYS, insecureNoAuth: true, logger: false }),
    ).rejects.toThrow(/choose one/);
    const badFile = path.join(fx.root, 'bad-keys.json');
    writeFileSync(badFile, JSON.stringify({ keys: [{ id: 'x', key: 'k'.repeat(20), scopes: ['root'] }] }));
    await expect(createServer({ registry, env: {}, keysFile: badFile, logger: false })).rejects.toThrow(
      /unknown scope 'root'/,
    );

    const open = await startServer(fx, { registry, apiKeys: [], insecureNoAuth: true });
    try {
      const warn = open.logs.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.level === 40);
      expect(warn?.msg).toContain('AUTHENTICATION IS DISABLED');
      expect((await api(open.url, 'GET', '/health')).json.auth).toBe('disabled');
      const res = await api(open.url, 'GET', '/api/ml/models');
      expect(res.status).toBe(200);
    } finally {
      await open.close();
    }
  });
});
