/**
 * The package as another project gets it: build into a staging copy, `npm
 * pack`, install the tarball into a fresh ESM project, import every entry
 * point from JavaScript and type-check them from TypeScript, drive the ML
 * strategy from a hand-written loop with a model directory, and run the CLI
 * (`quantflow --help`, an SMA and a registered-model backtest, and a Python
 * model trained with the bundled scripts when python3 is there).
 *
 * Staging (tsc --outDir into a temporary copy) leaves the shared dist/ alone.
 * Dependencies install from the npm cache (--prefer-offline); when the
 * registry cannot be reached the test is skipped with a message. Opt out with
 * QUANTFLOW_SKIP_PACK_TEST=1. QUANTFLOW_PACK_PACKAGE_JSON=<file> packs with
 * another package.json (to try a change before applying it).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { writeModelDirectory } from '../../src/models/model-files.js';
import { trainModel } from '../../src/models/train.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SKIP = process.env.QUANTFLOW_SKIP_PACK_TEST === '1';
const TIME_LIMIT_MS = 240_000;
const NETWORK =
  /ENOTFOUND|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH|socket hang up|network|E50[234]|fetch failed/i;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs a command; resolves with its exit code and output (never rejects). */
function run(cmd: string, args: readonly string[], cwd: string, timeoutMs = 120_000): Promise<Run> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        cwd,
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, NO_COLOR: '1', npm_config_update_notifier: 'false', npm_config_yes: 'false' },
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({
          code,
          stdout,
          stderr: err !== null && code === 1 && stderr === '' ? String(err) : stderr,
          ms: performance.now() - t0,
        });
      },
    );
  });
}

function ok(r: Run, what: string): Run {
  if (r.code !== 0)
    throw new Error(`${what} failed (exit ${r.code}):\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`);
  return r;
}

const timings: Record<string, number> = {};
let tmp: string | undefined;

afterAll(async () => {
  if (Object.keys(timings).length > 0) {
    console.info(
      `pack-install timings (s): ${Object.entries(timings)
        .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`)
        .join(', ')}`,
    );
  }
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
});

describe.skipIf(SKIP)('npm pack and install into a fresh project', () => {
  it(
    'installs, imports (JS and TS) and runs the CLI',
    async (ctx) => {
      tmp = await mkdtemp(path.join(tmpdir(), 'qf-pack-'));
      const stage = path.join(tmp, 'stage');
      const consumer = path.join(tmp, 'consumer');
      await mkdir(stage, { recursive: true });
      await mkdir(consumer, { recursive: true });

      // 1. Build into the staging copy, with what `files` must leave out (the TypeScript sources) beside it.
      const build = await run(
        process.execPath,
        [
          path.join(ROOT, 'node_modules/typescript/bin/tsc'),
          '-p',
          'tsconfig.build.json',
          '--outDir',
          path.join(stage, 'dist'),
        ],
        ROOT,
      );
      timings.build = build.ms;
      ok(build, 'npm run build (tsc -p tsconfig.build.json)');
      const manifestFile = process.env.QUANTFLOW_PACK_PACKAGE_JSON ?? path.join(ROOT, 'package.json');
      const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as {
        name: string;
        version: string;
        exports: Record<string, unknown>;
        bin: Record<string, string>;
      };
      await writeFile(path.join(stage, 'package.json'), JSON.stringify(manifest, null, 2));
      for (const dir of ['src', 'strategies', 'backtest'])
        await cp(path.join(ROOT, dir), path.join(stage, dir), { recursive: true });
      const readme = existsSync(path.join(ROOT, 'README.md'));
      if (readme) await cp(path.join(ROOT, 'README.md'), path.join(stage, 'README.md'));

      // 2. Pack (the build ran above: no prepack here).
      const pack = ok(
        await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], stage),
        'npm pack',
      );
      timings.pack = pack.ms;
      const packed = (
        JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }>; size: number }>
      )[0];
      if (packed === undefined) throw new Error(`npm pack printed no result: ${pack.stdout}`);
      const tarball = path.join(tmp, packed.filename);
      const paths = packed.files.map((f) => f.path);
      const allowed =
        /^(dist\/(src|strategies|backtest)\/.+|src\/models\/python\/[^/]+\.py|README\.md|package\.json|LICENSE)$/;
      expect(paths.filter((p) => !allowed.test(p))).toEqual([]);
      expect(paths.filter((p) => /\.ts$/.test(p) && !p.endsWith('.d.ts'))).toEqual([]);
      expect(paths.filter((p) => p.startsWith('test/') || p.includes('/test/'))).toEqual([]);
      for (const need of [
        'dist/src/index.js',
        'dist/src/index.d.ts',
        'dist/src/cli/main.js',
        'dist/strategies/index.d.ts',
        'dist/backtest/index.js',
        'dist/src/adapters/index.js',
        'dist/src/adapters/index.d.ts',
        'dist/src/adapters/grademark.js',
        'src/models/python/quantflow_worker.py',
        'src/models/python/logistic_model.py',
        ...(readme ? ['README.md'] : []),
      ]) {
        expect(paths, `${need} in the tarball`).toContain(need);
      }
      expect(manifest.exports['./adapters'], 'package.json exports ./adapters').toBeDefined();
      expect(manifest.bin.quantflow).toBe('./dist/src/cli/main.js');

      // 3. A fresh ESM project installs the tarball (dependencies from the npm cache when possible).
      await writeFile(
        path.join(consumer, 'package.json'),
        JSON.stringify({ name: 'qf-consumer', private: true, version: '1.0.0', type: 'module' }, null, 2),
      );
      const install = await run(
        'npm',
        ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tarball],
        consumer,
        150_000,
      );
      timings.install = install.ms;
      if (install.code !== 0 && NETWORK.test(install.stderr)) {
        console.warn(`skipping: npm install could not reach the registry:\n${install.stderr.slice(-1500)}`);
        ctx.skip();
      }
      ok(install, 'npm install <tarball>');
      const installed = path.join(consumer, 'node_modules', manifest.name);
      expect(existsSync(path.join(installed, 'src/models/python/quantflow_worker.py'))).toBe(true);
      expect(existsSync(path.join(consumer, 'node_modules/backtest-kit'))).toBe(false);

      // 4. A tiny model directory and some candles for the consumer.
      const candles = generateSyntheticCandles({ count: 900, seed: 4 });
      const trained = await trainModel({
        candles: candles.slice(0, 600),
        seed: 1,
        name: 'pack-tiny',
        featureSet: 'relative',
        kind: 'tfjs',
        network: { layers: [8], epochs: 2, earlyStopping: false },
      });
      await trained.predictor.dispose();
      const modelDir = path.join(tmp, 'model');
      await writeModelDirectory(modelDir, trained.files);
      await writeFile(path.join(consumer, 'candles.json'), JSON.stringify(candles.slice(600)));

      // 5. JavaScript: every entry point imports; a hand-written loop drives the SMA and the ML strategy.
      await writeFile(
        path.join(consumer, 'bot.mjs'),
        `import { readFile } from 'node:fs/promises';
import * as root from '${manifest.name}';
import * as strategies from '${manifest.name}/strategies';
import * as backtest from '${manifest.name}/backtest';
import { EmbeddedStrategy, createEmbeddedMlStrategy } from '${manifest.name}/adapters';
import { createGrademarkStrategy } from '${manifest.name}/adapters/grademark';

const candles = JSON.parse(await readFile('candles.json', 'utf8'));
const out = { root: typeof root.EventBus, backtest: typeof backtest.runBacktest, grademark: typeof createGrademarkStrategy };

const sma = new EmbeddedStrategy({ strategy: new strategies.SmaCrossover({ fast: 5, slow: 20, mode: 'long-only', fraction: 1 }) });
await sma.start();
const smaActions = [];
for (const c of candles) for (const s of await sma.candle(c)) smaActions.push(s.action);
await sma.stop();
out.sma = { signals: smaActions.length, orders: sma.orders().length };

const ml = await createEmbeddedMlStrategy({ model: { modelDir: process.argv[2] }, threshold: 0.05 });
await ml.start();
const mlSignals = [];
for (const c of candles) mlSignals.push(...(await ml.candle(c)));
await ml.stop();
out.ml = {
  signals: mlSignals.length,
  acted: mlSignals.filter((s) => s.action !== 'HOLD').length,
  modelVersion: mlSignals[0]?.prediction?.modelVersion,
};
console.log(JSON.stringify(out));
`,
      );
      const js = ok(await run(process.execPath, ['bot.mjs', modelDir], consumer), 'consumer script');
      timings.script = js.ms;
      const result = JSON.parse(js.stdout.trim().split('\n').pop() as string);
      expect(result).toMatchObject({ root: 'function', backtest: 'function', grademark: 'function' });
      expect(result.sma.signals).toBeGreaterThan(0);
      expect(result.sma.orders).toBeGreaterThan(0);
      expect(result.ml.signals).toBeGreaterThan(250);
      expect(result.ml.modelVersion).toMatch(/^pack-tiny@[0-9a-f]{12}$/);

      // 6. TypeScript: the declarations resolve through `exports` under NodeNext.
      await writeFile(
        path.join(consumer, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            noEmit: true,
            skipLibCheck: true,
            types: [],
          },
          include: ['check.ts'],
        }),
      );
      await writeFile(
        path.join(consumer, 'check.ts'),
        `import type { Candle, Signal, Strategy } from '${manifest.name}';
import { MlStrategy, SmaCrossover } from '${manifest.name}/strategies';
import { EmbeddedStrategy, type HostBroker, type HostOrder, createBacktestKitStrategy } from '${manifest.name}/adapters';
import { runBacktest } from '${manifest.name}/backtest';

const broker: HostBroker = { submit(order: HostOrder) { void order.quantity; } };
const strategy: Strategy = new SmaCrossover({ fast: 5, slow: 20, mode: 'long-only', fraction: 1 });
const bot = new EmbeddedStrategy({ strategy, broker });
export async function step(c: Candle): Promise<Signal[]> { return bot.candle(c); }
export const kinds = [typeof MlStrategy, typeof createBacktestKitStrategy, typeof runBacktest];
`,
      );
      const tsc = await run(
        process.execPath,
        [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'],
        consumer,
      );
      ok(tsc, 'tsc on a TypeScript consumer');

      // 7. The CLI from the consumer project.
      const help = ok(await run('npx', ['--no', '--', 'quantflow', '--help'], consumer), 'npx quantflow --help');
      expect(help.stdout).toMatch(/backtest/);
      const sma = ok(
        await run(
          'npx',
          ['--no', '--', 'quantflow', 'backtest', '--synthetic', '--strategy', 'sma', '--out', 'out-sma', '--json'],
          consumer,
        ),
        'npx quantflow backtest --synthetic',
      );
      timings['cli sma'] = sma.ms;
      expect(JSON.parse(sma.stdout)).toMatchObject({ candles: 20_000, timeframe: '1h' });
      ok(
        await run(
          'npx',
          ['--no', '--', 'quantflow', 'models', 'register', 'tiny', modelDir, '--registry', 'registry'],
          consumer,
        ),
        'quantflow models register',
      );
      const mlRun = ok(
        await run(
          'npx',
          [
            '--no',
            '--',
            'quantflow',
            'backtest',
            '--synthetic',
            '--strategy',
            'ml',
            '--model',
            'tiny',
            '--registry',
            'registry',
            '--out',
            'out-ml',
            '--json',
          ],
          consumer,
        ),
        'quantflow backtest --strategy ml --model',
      );
      timings['cli ml'] = mlRun.ms;
      const ml = JSON.parse(mlRun.stdout) as { notes: string[]; candles: number };
      expect(ml.candles).toBe(20_000);
      expect(ml.notes.join('\n')).toMatch(/ML accuracy/);
      expect(await readdir(path.join(consumer, 'out-ml'))).toEqual(
        expect.arrayContaining(['result.json', 'report.html']),
      );

      // 8. The bundled Python scripts resolve from the installed package.
      if ((await run('python3', ['-c', 'import numpy'], consumer)).code === 0) {
        const py = ok(
          await run(
            'npx',
            [
              '--no',
              '--',
              'quantflow',
              'train',
              '--synthetic',
              '--synthetic-count',
              '800',
              '--kind',
              'python',
              '--out',
              'py-model',
            ],
            consumer,
          ),
          'quantflow train --kind python',
        );
        timings['cli python'] = py.ms;
        expect(existsSync(path.join(consumer, 'py-model', 'meta.json'))).toBe(true);
      } else console.warn('python3 with numpy not found: the Python model step is skipped');
    },
    TIME_LIMIT_MS,
  );
});
