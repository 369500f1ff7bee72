/**
 * PythonWorker against a real python3 process (no mocks): persistence,
 * multiplexing, Python exceptions, timeouts, crashes and restarts, shutdown,
 * malformed output. Skipped as a whole when python3 is not on PATH.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError, ModelError } from '../../src/core/errors.js';
import { BUNDLED_PYTHON_DIR } from '../../src/models/python-model.js';
import { base64ToFloat32, float32ToBase64, PythonError, PythonWorker } from '../../src/models/python-worker.js';
import {
  HAS_NUMPY,
  HAS_PYTHON,
  memoryLogger,
  processAlive,
  TEST_MODEL_SOURCE,
  tempDir,
  writeScript,
} from './python-helpers.js';

const suite = HAS_PYTHON ? describe : describe.skip;

suite(`PythonWorker with a real python3${HAS_PYTHON ? '' : ' (skipped: python3 not on PATH)'}`, () => {
  let tmp: ReturnType<typeof tempDir>;
  let script: string;
  const workers: PythonWorker[] = [];

  const worker = (options: Partial<ConstructorParameters<typeof PythonWorker>[0]> = {}) => {
    const w = new PythonWorker({ script, pythonPath: [BUNDLED_PYTHON_DIR], requestTimeoutMs: 10_000, ...options });
    workers.push(w);
    return w;
  };
  const predict = async (w: PythonWorker, rows: number[][]) => {
    const cols = rows[0]!.length;
    const reply = await w.request<{ n: number; f32: string }>('predict', {
      rows: { f32: float32ToBase64(Float32Array.from(rows.flat())), cols },
    });
    return Array.from(base64ToFloat32(reply.f32));
  };

  beforeAll(() => {
    tmp = tempDir('pyworker');
    script = writeScript(tmp.dir, 'test_model.py', TEST_MODEL_SOURCE);
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close()));
  });
  afterAll(() => tmp.cleanup());

  it('keeps one process for 1,000 sequential predictions', async () => {
    const w = worker();
    const ping = await w.ping();
    expect(ping.pid).toBe(w.pid);
    expect(ping.protocol).toBe(1);
    await w.requestAndReplay('load', { weights: { scale: 0.5, width: 2 }, inputWidth: 2 });
    for (let i = 0; i < 1_000; i++) {
      const [p] = await predict(w, [[(i % 100) / 100, 0]]);
      expect(p).toBeCloseTo(((i % 100) / 100) * 0.5, 6);
    }
    expect(w.pid).toBe(ping.pid);
    expect((await w.ping()).pid).toBe(ping.pid);
    expect(w.stats).toMatchObject({ starts: 1, crashes: 0, timeouts: 0, malformedLines: 0 });
  });

  it('multiplexes concurrent requests by id', async () => {
    const w = worker();
    const sums = await Promise.all(Array.from({ length: 200 }, (_, i) => w.request<number>('add', { a: i, b: 1000 })));
    expect(sums).toEqual(Array.from({ length: 200 }, (_, i) => i + 1000));
  });

  it('reassembles replies that arrive in many chunks', async () => {
    const w = worker();
    const [big, small] = await Promise.all([
      w.request<string>('big', { n: 5_000_000 }),
      w.request('add', { a: 2, b: 3 }),
    ]);
    expect(big.length).toBe(5_000_000);
    expect(small).toBe(5);
  });

  it('predicts a 10,000-row batch sent as base64 float32, and also accepts a flat JSON list', async () => {
    const w = worker();
    await w.requestAndReplay('load', { weights: { scale: 1, width: 3 }, inputWidth: 3 });
    const rows = Array.from({ length: 10_000 }, (_, i) => [(i % 1000) / 1000, 1, 2]);
    const out = await predict(w, rows);
    expect(out).toHaveLength(10_000);
    expect(out[123]).toBeCloseTo(0.123, 6);
    const json = await w.request<{ n: number; values: number[] }>('predict', {
      rows: { values: rows.slice(0, 3).flat(), cols: 3 },
      output: 'values',
    });
    expect(json.n).toBe(3);
    expect(json.values[2]).toBeCloseTo(0.002, 6);
  });

  it('surfaces a Python exception with its type, message and traceback, and stays up', async () => {
    const w = worker();
    const pid = (await w.ping()).pid;
    const err = await w.request('boom', { message: 'feature 7 is out of range' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PythonError);
    expect(err).toBeInstanceOf(ModelError);
    const e = err as PythonError;
    expect(e.pythonType).toBe('ValueError');
    expect(e.pythonMessage).toBe('feature 7 is out of range');
    expect(e.message).toContain("python ValueError in 'boom': feature 7 is out of range");
    expect(e.message).toContain('test_model.py');
    expect(e.where.line).toBeGreaterThan(0);
    expect(e.traceback).toMatch(/Traceback \(most recent call last\)/);
    expect(e.traceback).toMatch(/in boom/);
    expect(e.stack).toContain('ValueError: feature 7 is out of range');

    const missing = await w.request('no_such_method').catch((x: unknown) => x);
    expect(missing).toMatchObject({ pythonType: 'AttributeError' });
    const nan = await w.request('nan').catch((x: unknown) => x);
    expect((nan as Error).message).toMatch(/not plain JSON/);
    expect((await w.ping()).pid).toBe(pid);
  });

  it('sends print() output to stderr, not into the protocol', async () => {
    const w = worker();
    expect(await w.request('noisy')).toBe('ok');
    await w.ping();
    expect(w.stderrTail()).toContain('hello from print');
    expect(w.stats.malformedLines).toBe(0);
  });

  it('rejects a timed-out request clearly, kills the worker and recovers with the load replayed', async () => {
    const w = worker();
    await w.requestAndReplay('load', { weights: { scale: 0.25, width: 2 }, inputWidth: 2 });
    const pid = w.pid!;
    const started = Date.now();
    const err = await w.request('sleep', { seconds: 20 }, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err).toBeInstanceOf(ModelError);
    expect((err as Error).message).toMatch(/request 'sleep' \(id \d+\) timed out after 300 ms/);
    expect((err as Error).message).toMatch(/killed/);
    expect(await predict(w, [[1, 0]])).toEqual([0.25]); // new process, weights replayed
    expect(w.pid).not.toBe(pid);
    expect(w.stats).toMatchObject({ starts: 2, timeouts: 1 });
    await new Promise((r) => setTimeout(r, 100));
    expect(processAlive(pid)).toBe(false);
  });

  it('rejects the in-flight request when python is killed, then restarts with the model still loaded', async () => {
    const w = worker();
    await w.requestAndReplay('load', { weights: { scale: 0.5, width: 2 }, inputWidth: 2 });
    expect(await predict(w, [[0.5, 0]])).toEqual([0.25]);
    const pid = (await w.ping()).pid;
    const inFlight = w.request('sleep', { seconds: 10 }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    process.kill(pid);
    const err = (await inFlight) as Error;
    expect(err).toBeInstanceOf(ModelError);
    expect(err.message).toMatch(new RegExp(`pid ${pid}\\) was killed by signal SIGTERM while request 'sleep'`));
    expect(err.message).toMatch(/restarts on the next request/);
    expect(await predict(w, [[0.5, 0]])).toEqual([0.25]);
    expect(w.pid).not.toBe(pid);
    expect(w.stats.crashes).toBe(1);
  });

  it('reports the exit code and the stderr tail of a crash', async () => {
    const w = worker();
    const err = (await w.request('crash', { code: 3 }).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/exited with code 3 while request 'crash'/);
    expect(err.message).toContain('about to crash with 3');
    expect(await w.request('add', { a: 1, b: 2 })).toBe(3);
  });

  it('gives up after too many crashes within the window', async () => {
    const w = worker({ maxRestarts: 2, restartWindowMs: 60_000 });
    for (let i = 0; i < 2; i++) {
      const err = (await w.request('crash', { code: 5 }).catch((e: unknown) => e)) as Error;
      expect(err.message).toMatch(/restarts on the next request/);
    }
    const last = (await w.request('crash', { code: 5 }).catch((e: unknown) => e)) as Error;
    expect(last.message).toMatch(/stopped 3 time\(s\) within 60 s .*giving up, at most 2 restart\(s\) are allowed/);
    const after = (await w.request('add', { a: 1, b: 1 }).catch((e: unknown) => e)) as Error;
    expect(after).toBeInstanceOf(ModelError);
    expect(after.message).toMatch(/giving up/);
    expect(w.stats.starts).toBe(3);
  });

  it('closes cleanly: in-flight work finishes, no child is left, later requests are refused', async () => {
    const w = worker();
    const pid = (await w.ping()).pid;
    const inFlight = w.request<number>('sleep', { seconds: 0.2 });
    await w.close();
    expect(await inFlight).toBe(0.2);
    expect(processAlive(pid)).toBe(false);
    expect(w.pid).toBeUndefined();
    await w.close(); // idempotent
    await expect(w.request('add', { a: 1, b: 1 })).rejects.toThrow(/python worker is closed/);
  });

  it('escalates to signals when python does not exit in time on close', async () => {
    const w = worker({ shutdownTimeoutMs: 200 });
    const pid = (await w.ping()).pid;
    const inFlight = w.request('sleep', { seconds: 30 }).catch((e: unknown) => e);
    const started = Date.now();
    await w.close();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(processAlive(pid)).toBe(false);
    expect(((await inFlight) as Error).message).toMatch(/cancelled: the worker was closed/);
  });

  it('reports malformed output lines without crashing', async () => {
    const raw = writeScript(
      tmp.dir,
      'raw_protocol.py',
      [
        'import json, sys',
        'for line in sys.stdin:',
        '    req = json.loads(line)',
        '    print("this is not json")',
        '    print("[1, 2, 3]")',
        '    print(json.dumps({"id": 999999, "result": "nobody asked"}))',
        '    if req["method"] == "broken":',
        '        print(json.dumps({"id": req["id"], "oops": True}))',
        '    else:',
        '        print(json.dumps({"id": req["id"], "result": req["method"]}))',
        '    sys.stdout.flush()',
      ].join('\n'),
    );
    const logger = memoryLogger();
    const w = worker({ script: raw, logger });
    expect(await w.request('hello')).toBe('hello');
    const broken = (await w.request('broken').catch((e: unknown) => e)) as Error;
    expect(broken).toBeInstanceOf(ModelError);
    expect(broken.message).toMatch(/malformed reply to 'broken'.*neither 'result' nor 'error'/);
    expect(await w.request('again')).toBe('again');
    expect(w.stats.malformedLines).toBe(10);
    expect(w.stats.crashes).toBe(0);
    const warned = logger.lines.filter((l) => l.level === 'warn').map((l) => JSON.stringify(l.fields));
    expect(warned.some((f) => f.includes('not JSON') && f.includes('this is not json'))).toBe(true);
    expect(warned.some((f) => f.includes('no request with id 999999'))).toBe(true);
  });

  it.skipIf(!HAS_NUMPY)(
    'hands numpy arrays to a model with input_format = "numpy" (skipped without numpy)',
    async () => {
      const numpyScript = writeScript(
        tmp.dir,
        'numpy_model.py',
        [
          'from quantflow_worker import serve',
          'class NumpyModel:',
          '    input_format = "numpy"',
          '    def fit(self, X, y, params):',
          '        return {"shape": list(X.shape), "dtype": str(X.dtype), "ones": sum(y)}',
          '    def predict(self, rows):',
          '        return rows[:, 0] * 0.5',
          'serve(NumpyModel)',
        ].join('\n'),
      );
      const w = worker({ script: numpyScript });
      const fit = await w.request('fit', {
        X: { f32: float32ToBase64(Float32Array.of(1, 2, 3, 4, 5, 6)), cols: 3 },
        y: { values: [0, 1] },
      });
      expect(fit).toEqual({ weights: { shape: [2, 3], dtype: 'float32', ones: 1 }, info: {} });
      expect(
        await predict(w, [
          [0.5, 9],
          [1, 9],
        ]),
      ).toEqual([0.25, 0.5]);
    },
  );

  it('reports a script that fails at start-up with its Python error', async () => {
    const bad = writeScript(tmp.dir, 'bad_import.py', 'import quantflow_no_such_module_xyz\n');
    const w = worker({ script: bad, maxRestarts: 0 });
    const err = (await w.ping().catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/exited with code 1 during start-up/);
    expect(err.message).toMatch(/ModuleNotFoundError: No module named 'quantflow_no_such_module_xyz'/);
  });

  it('reports a python executable that does not exist', async () => {
    const w = worker({ python: '/nonexistent/python3' });
    await expect(w.ping()).rejects.toThrow(/could not be started with '\/nonexistent\/python3'.*ENOENT/);
  });

  it('refuses, in Python, to run a script whose bytes differ from the expected sha256', async () => {
    const w = worker({ scriptSha256: '0'.repeat(64) });
    const err = await w.ping().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/refusing to run .*test_model\.py/);
  });
});
