/**
 * Graceful shutdown: a request in flight when `close()` is called completes
 * with its answer, new connections are refused, and only then are the models
 * disposed (the Python worker process ends). The CLI does the same on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelPredictor } from '../../src/models/model-predictor.js';
import type { PythonScaledModel } from '../../src/models/python-model.js';
import { REPO_ROOT } from '../registry/helpers.js';
import { api, BOT_KEY, type ModelFixture, makeModelFixture, registerDir, row, startServer } from './helpers.js';

let fx: ModelFixture;

beforeAll(async () => {
  fx = await makeModelFixture();
});

afterAll(() => fx?.cleanup());

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sends the head and part of a request's body over a raw socket; `finish()` sends the rest and reads the answer. */
async function startSlowRequest(url: string, route: string, key: string, body: string) {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const ended = once(socket, 'end');
  const bytes = Buffer.from(body);
  const head =
    `POST ${route} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${key}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`;
  const half = Math.floor(bytes.length / 2);
  socket.write(head);
  socket.write(bytes.subarray(0, half));
  return {
    async finish(): Promise<{ status: number; body: string }> {
      // write, not end: a half-closed client socket makes node abort the request
      socket.write(bytes.subarray(half));
      await ended;
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
      return { status, body: text.slice(text.indexOf('\r\n\r\n') + 4) };
    },
  };
}

describe('HTTP API: graceful shutdown', () => {
  it('finishes a request in flight, refuses new ones, then disposes the models (Python worker stopped)', async () => {
    const s = await startServer(fx);
    expect((await registerDir(s.url, 'logit', 'py-a', 'python')).status).toBe(201);
    const served = s.server.pool.activeModel('logit')!;
    const pid = ((served.predictor as ModelPredictor).model as PythonScaledModel).worker.pid!;
    expect(processAlive(pid)).toBe(true);

    const slow = await startSlowRequest(
      s.url,
      '/api/ml/predict',
      BOT_KEY,
      JSON.stringify({ model: 'logit', rows: [row(fx, 1), row(fx, 2), row(fx, 3)] }),
    );
    await new Promise((r) => setTimeout(r, 100)); // the server has the head and half the body
    let closed = false;
    const closing = s.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(closed).toBe(false); // waiting for the request in flight
    expect(processAlive(pid)).toBe(true);
    await expect(fetch(`${s.url}/health`)).rejects.toThrow(); // no new connections

    const answer = await slow.finish();
    expect(answer.status).toBe(200);
    const json = JSON.parse(answer.body) as { model: string; predictions: number[] };
    expect(json.model).toBe('logit@v1');
    expect(json.predictions).toHaveLength(3);

    await closing;
    expect(closed).toBe(true);
    expect(served.retired).toBe(true);
    for (let i = 0; i < 50 && processAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(processAlive(pid)).toBe(false);
    const lines = s.logs.map((l) => JSON.parse(l) as { msg: string });
    expect(lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['shutting down: finishing requests in flight', 'shut down']),
    );
  });

  it('`quantflow serve` shuts down cleanly on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(REPO_ROOT, 'src/cli/main.ts'),
        'serve',
        '--port',
        '0',
        '--registry',
        path.join(fx.root, 'cli-registry'),
        '--models-dir',
        fx.modelsDir,
      ],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, QUANTFLOW_API_KEYS: `${BOT_KEY}:predict+read` },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const exited = once(child, 'exit');
    try {
      let url: string | undefined;
      for (let i = 0; i < 300 && url === undefined; i++) {
        url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)?.[1];
        if (url === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      expect(url, `stdout: ${out}\nstderr: ${err}`).toBeDefined();
      expect((await api(url!, 'GET', '/health')).status).toBe(200);
      expect((await api(url!, 'GET', '/api/ml/models', { key: BOT_KEY })).status).toBe(200);
      expect(out).not.toContain(BOT_KEY);
      child.kill('SIGTERM');
      const [code] = await exited;
      expect(code, `stderr: ${err}`).toBe(0);
      expect(out).toContain('"msg":"shut down"');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
