/**
 * Bounded work per client: slow clients cut by the header and body timeouts,
 * requests in progress and requests per minute limited per API key, the
 * memory budget, and batch and body limits that agree. Raw sockets on
 * 127.0.0.1 stand in for slow clients; every wait is bounded.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BODY_LIMIT, DEFAULT_MAX_BATCH } from '../../src/server/index.js';
import {
  api,
  BOT_KEY,
  expectHealthy,
  type ModelFixture,
  makeModelFixture,
  PREDICT_KEY,
  READ_KEY,
  registerDir,
  row,
  startServer,
  type TestServer,
} from './helpers.js';

let fx: ModelFixture;
beforeAll(async () => {
  fx = await makeModelFixture({ python: false });
});
afterAll(() => fx?.cleanup());

async function withServer(options: Parameters<typeof startServer>[1], fn: (s: TestServer) => Promise<void>) {
  const s = await startServer(fx, options);
  try {
    expect((await registerDir(s.url, 'alpha', 'tf-a')).status).toBe(201);
    await fn(s);
  } finally {
    await s.close();
  }
}

/** A socket to the server that has sent `text` and then goes quiet. */
async function stalled(url: string, text: string): Promise<{ socket: Socket; received: () => string }> {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    received += d;
  });
  socket.on('error', () => {});
  socket.write(text);
  return { socket, received: () => received };
}

/** Waits (at most 10 s) for the server to close `socket`. */
async function closedByServer(socket: Socket): Promise<void> {
  const timer = setTimeout(() => socket.destroy(new Error('the server never closed the connection')), 10_000);
  await once(socket, 'close');
  clearTimeout(timer);
}

const predictHeaders = (length: number, key = BOT_KEY) =>
  `POST /api/ml/predict HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${key}\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n`;

describe('HTTP API: limits', () => {
  it('cuts a client that is slow to send its headers, and one slow to send its body (408)', async () => {
    await withServer({ headersTimeoutMs: 300, requestTimeoutMs: 600 }, async (s) => {
      const headers = await stalled(s.url, 'POST /api/ml/predict HTTP/1.1\r\nhost: 127.0.0.1\r\n');
      const body = await stalled(s.url, `${predictHeaders(1000)}{"features": [`);
      await Promise.all([closedByServer(headers.socket), closedByServer(body.socket)]);
      expect(headers.received()).toMatch(/^HTTP\/1\.1 408/);
      expect(body.received()).toMatch(/^HTTP\/1\.1 408/);
      await expectHealthy(s.url);
    });
  });

  it('limits the requests one API key has in progress (429), not other keys', async () => {
    await withServer({ maxInFlightPerKey: 2 }, async (s) => {
      // Two requests whose bodies never finish: admitted (authenticated, counted), waiting for their bodies.
      const open = await Promise.all([1, 2].map(() => stalled(s.url, `${predictHeaders(100)}{`)));
      let third = await api(s.url, 'POST', '/api/ml/predict', {
        key: BOT_KEY,
        body: { model: 'alpha', features: row(fx, 1) },
      });
      for (let i = 0; i < 50 && third.status !== 429; i++) {
        await new Promise((r) => setTimeout(r, 20)); // the stalled requests' headers may still be on their way
        third = await api(s.url, 'POST', '/api/ml/predict', {
          key: BOT_KEY,
          body: { model: 'alpha', features: row(fx, 1) },
        });
      }
      expect(third.status, third.text).toBe(429);
      expect(third.json.error.code).toBe('TOO_MANY_IN_FLIGHT');
      expect(third.json.error.message).toContain("API key 'bot' already has 2 requests in progress");
      const other = await api(s.url, 'POST', '/api/ml/predict', {
        key: PREDICT_KEY,
        body: { model: 'alpha', features: row(fx, 1) },
      });
      expect(other.status).toBe(200);

      for (const o of open) o.socket.destroy();
      let after = third;
      for (let i = 0; i < 50 && after.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 20));
        after = await api(s.url, 'POST', '/api/ml/predict', {
          key: BOT_KEY,
          body: { model: 'alpha', features: row(fx, 1) },
        });
      }
      expect(after.status, after.text).toBe(200);
    });
  });

  it('limits requests per minute per key (429 naming the key), never /health', async () => {
    await withServer({ rateLimitPerMinute: 3 }, async (s) => {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await api(s.url, 'GET', '/api/ml/stats', { key: READ_KEY })).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const limited = await api(s.url, 'GET', '/api/ml/stats', { key: READ_KEY });
      expect(limited.json.error).toMatchObject({ code: 'RATE_LIMITED', field: 'authorization' });
      expect(limited.json.error.message).toContain("API key 'reader' exceeded 3 requests per minute");
      expect((await api(s.url, 'GET', '/api/ml/stats', { key: BOT_KEY })).status).toBe(200);
      for (let i = 0; i < 5; i++) await expectHealthy(s.url);
    });
  });

  it('answers 503 above the memory budget, while /health reports the memory', async () => {
    await withServer({ maxMemoryBytes: 1024 * 1024 }, async (s) => {
      let res = await api(s.url, 'POST', '/api/ml/predict', {
        key: BOT_KEY,
        body: { model: 'alpha', features: row(fx, 1) },
      });
      // the budget is checked on a sample taken every second
      for (let i = 0; i < 60 && res.status !== 503; i++) {
        await new Promise((r) => setTimeout(r, 50));
        res = await api(s.url, 'POST', '/api/ml/predict', {
          key: BOT_KEY,
          body: { model: 'alpha', features: row(fx, 1) },
        });
      }
      expect(res.status, res.text).toBe(503);
      expect(res.json.error.code).toBe('OVER_MEMORY_BUDGET');
      expect(res.headers.get('retry-after')).toBe('10');
      const health = await api(s.url, 'GET', '/health');
      expect(health.status).toBe(200);
      expect(health.json.memory).toMatchObject({ budgetBytes: 1024 * 1024, overBudget: true });
      expect(health.json.memory.rssBytes).toBeGreaterThan(1024 * 1024);
    });
  });

  it('the default body limit holds a full default batch of full-precision rows', async () => {
    await withServer({}, async (s) => {
      const rows = Array.from({ length: DEFAULT_MAX_BATCH }, (_, i) =>
        row(fx, i % 100).map((v) => v + (Math.random() - 0.5) * 1e-9),
      );
      const body = JSON.stringify({ model: 'alpha', rows });
      expect(body.length).toBeLessThan(DEFAULT_BODY_LIMIT);
      const ok = await api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, raw: body });
      expect(ok.status, ok.text.slice(0, 200)).toBe(200);
      expect(ok.json.predictions).toHaveLength(DEFAULT_MAX_BATCH);
      const over = await api(s.url, 'POST', '/api/ml/predict', {
        key: BOT_KEY,
        body: {
          model: 'alpha',
          rows: [...rows.slice(0, 100), ...rows].slice(0, DEFAULT_MAX_BATCH + 1).map((r) => r.slice(0, 3)),
        },
      });
      expect(over.status).toBe(413);
      expect(over.json.error.code).toBe('BATCH_TOO_LARGE');

      // Big bodies are decoded on a worker thread: same answers, same refusals naming the same fields.
      const small = await api(s.url, 'POST', '/api/ml/predict', {
        key: BOT_KEY,
        body: { model: 'alpha', rows: rows.slice(0, 3) },
      });
      // (the model's batch path may round differently from its path for a few rows)
      for (let i = 0; i < 3; i++) expect(ok.json.predictions[i]).toBeCloseTo(small.json.predictions[i], 5);
      const refusal = async (edit: (copy: unknown[][]) => void, code: string, field: string) => {
        const copy = rows.map((r) => [...r]);
        edit(copy);
        const res = await api(s.url, 'POST', '/api/ml/predict', { key: BOT_KEY, body: { model: 'alpha', rows: copy } });
        expect(res.status, res.text.slice(0, 200)).toBe(400);
        expect(res.json.error).toMatchObject({ code, field });
      };
      await refusal(
        (c) => {
          c[1500]![3] = 'x';
        },
        'INVALID_TYPE',
        'rows[1500][3]',
      );
      await refusal(
        (c) => {
          c[1700]![2] = 1e39;
        },
        'INVALID_FEATURE_VALUE',
        'rows[1700][2]',
      );
      await refusal(
        (c) => {
          c[900] = c[900]!.slice(1);
        },
        'WRONG_FEATURE_COUNT',
        'rows[900]',
      );
      await refusal(
        (c) => {
          for (let i = 0; i < c.length; i++) c[i] = c[i]!.slice(1);
        },
        'WRONG_FEATURE_COUNT',
        'rows[0]',
      );
      const poisoned = await api(s.url, 'POST', '/api/ml/predict', {
        key: BOT_KEY,
        raw: body.replace('{"model"', '{"__proto__": {"x": 1}, "model"'),
      });
      expect(poisoned.json.error).toMatchObject({ code: 'FORBIDDEN_KEY', field: '__proto__' });
      await expectHealthy(s.url);
    });
  });
});
