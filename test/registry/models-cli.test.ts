/** `quantflow models ...` end to end, each call a fresh process as a user would run it. */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../src/registry/index.js';
import { fakeModelDir, REPO_ROOT, tempDir } from './helpers.js';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function quantflow(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(REPO_ROOT, 'src', 'cli', 'main.ts'), ...args],
      { cwd: REPO_ROOT, env: { ...process.env, QUANTFLOW_REGISTRY: '', QUANTFLOW_REGISTRY_KEY: '', ...env } },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number(err.code ?? 1), stdout, stderr }),
    );
  });
}

function expectOneLineError(run: Run, pattern: RegExp): void {
  expect(run.code).toBe(1);
  const lines = run.stderr.trim().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(pattern);
}

describe('quantflow models (CLI)', () => {
  it('registers, lists, shows, promotes and verifies; errors are one line with exit code 1', async () => {
    const work = tempDir('qf-registry-cli-');
    const reg = path.join(work, 'reg');
    const modelDir = fakeModelDir(work, 'model', 2048);

    const [first, badName] = await Promise.all([
      quantflow(['models', 'register', 'btc-1h', modelDir, '--registry', reg]),
      quantflow(['models', 'register', 'BTC', modelDir, '--registry', path.join(work, 'other')]),
    ]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^registered btc-1h@v1 \(2 files, .*\) - active/);
    expectOneLineError(badName, /invalid model name 'BTC'/);
    await (await ModelRegistry.open(reg)).register('btc-1h', modelDir); // v2, not active

    const [table, show] = await Promise.all([
      quantflow(['models', 'list', '--registry', reg]),
      quantflow(['models', 'show', 'btc-1h', '--json'], { QUANTFLOW_REGISTRY: reg }),
    ]);
    expect(table.code, table.stderr).toBe(0);
    const [header, row] = table.stdout.trim().split('\n');
    expect(header).toMatch(/^NAME\s+ACTIVE\s+LATEST\s+VERSIONS\s+KIND/);
    expect(row).toMatch(/^btc-1h\s+v1\s+v2\s+2\s+tfjs\s+BTC\/USDT\s+1h\s+0\.550/);
    const details = JSON.parse(show.stdout);
    expect(details).toMatchObject({ name: 'btc-1h', active: 'v1', latest: 'v2' });
    expect(details.versions.map((v: { version: string }) => v.version)).toEqual(['v1', 'v2']);
    expect(details.versions[0].meta.validation.rocAuc).toBe(0.57);

    const promoted = await quantflow(['models', 'promote', 'btc-1h', 'v2', '--registry', reg]);
    expect(promoted.stdout.trim()).toBe('btc-1h: active version is v2 (was v1)');

    const weights = path.join(reg, 'models', 'btc-1h', 'v1', 'weights.bin');
    const data = readFileSync(weights);
    data[0] = (data[0] ?? 0) ^ 1;
    writeFileSync(weights, data);
    const verify = await quantflow(['models', 'verify', '--registry', reg]);
    expectOneLineError(verify, /1 problem\(s\) found/);
    expect(verify.stdout).toContain(`btc-1h@v1  FAILED  ${weights}`);
    expect(verify.stdout).toContain('btc-1h@v2  ok');
  });

  it('verify fails (exit 1) on a deleted index and on version directories the index does not list', async () => {
    const work = tempDir('qf-registry-cli-');
    const reg = path.join(work, 'reg');
    const registry = await ModelRegistry.open(reg, { env: {} });
    await registry.register('m', fakeModelDir(work, 'model', 100));
    await registry.register('m', fakeModelDir(work, 'model', 100));
    const index = path.join(reg, 'models', 'm', 'index.json');
    const saved = readFileSync(index);
    mkdirSync(path.join(reg, 'models', 'm', 'v9'));
    const [unlisted] = await Promise.all([quantflow(['models', 'verify', '--registry', reg])]);
    expectOneLineError(unlisted, /1 problem\(s\) found/);
    expect(unlisted.stdout).toMatch(/m {2}FAILED {2}v9 on disk not listed in/);
    rmSync(path.join(reg, 'models', 'm', 'v9'), { recursive: true });

    rmSync(index);
    const missing = await quantflow(['models', 'verify', '--registry', reg]);
    expectOneLineError(missing, /1 problem\(s\) found/);
    expect(missing.stdout).toContain(`m  FAILED  ${index}: index is missing; 2 version directories are on disk`);
    writeFileSync(index, saved.subarray(0, 40));
    const damaged = await quantflow(['models', 'verify', 'm', '--registry', reg]);
    expectOneLineError(damaged, /1 problem\(s\) found/);
    expect(damaged.stdout).toContain(`m  FAILED  ${index}: not valid JSON`);
  });

  it("register applies the server's Python allow-list; keygen and --sign make a signed registry", async () => {
    const work = tempDir('qf-registry-cli-');
    const reg = path.join(work, 'reg');
    const scripts = path.join(work, 'scripts');
    mkdirSync(scripts);
    const source = 'print("a model")\n';
    writeFileSync(path.join(scripts, 'mine.py'), source);
    const sha = createHash('sha256').update(source).digest('hex');
    const shell = fakeModelDir(work, 'shell', 100, {
      kind: 'python',
      python: { script: '/bin/sh', scriptSha256: sha },
    });
    const mine = fakeModelDir(work, 'mine', 100, { kind: 'python', python: { script: 'mine.py', scriptSha256: sha } });

    const [sh, notListed, listed, keygen] = await Promise.all([
      quantflow(['models', 'register', 'py', shell, '--registry', reg]),
      quantflow(['models', 'register', 'py', mine, '--registry', reg]),
      quantflow(['models', 'register', 'py', mine, '--registry', path.join(work, 'reg2'), '--python-dir', scripts]),
      quantflow(['models', 'keygen', '--json']),
    ]);
    expectOneLineError(sh, /python script '\/bin\/sh' is not in an allow-listed script directory/);
    expectOneLineError(notListed, /python script 'mine\.py' is not in an allow-listed script directory/);
    expect(listed.code, listed.stderr).toBe(0);
    writeFileSync(path.join(scripts, 'mine.py'), `${source}# changed\n`);
    const changed = await quantflow(['models', 'register', 'py', mine, '--registry', reg, '--python-dir', scripts]);
    expectOneLineError(changed, /differs from the one the model was trained with/);

    const { signingKey, verifyKey } = JSON.parse(keygen.stdout);
    const signedReg = path.join(work, 'signed');
    const tf = fakeModelDir(work, 'tf', 100);
    const writer = { QUANTFLOW_REGISTRY_SIGNING_KEY: signingKey };
    const signed = await quantflow(['models', 'register', 'm', tf, '--sign', '--registry', signedReg], writer);
    expect(signed.code, signed.stderr).toBe(0);
    const [ok, keyless] = await Promise.all([
      quantflow(['models', 'verify', '--registry', signedReg], { QUANTFLOW_REGISTRY_VERIFY_KEY: verifyKey }),
      quantflow(['models', 'list', '--registry', signedReg]),
    ]);
    expect(ok.stdout.trim()).toBe('m@v1  ok\nverified 1 version(s) (signatures checked): all ok');
    expectOneLineError(keyless, /registry is signed: set QUANTFLOW_REGISTRY_VERIFY_KEY/);
  });
});
