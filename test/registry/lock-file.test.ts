import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { withLock } from '../../src/registry/lock-file.js';
import { tempDir } from './helpers.js';

function foreignLock(file: string, pid: number, host = hostname()): void {
  writeFileSync(file, JSON.stringify({ pid, host, token: 'someone-else', since: new Date().toISOString() }));
}

function age(file: string, ms: number): void {
  const t = (Date.now() - ms) / 1000;
  utimesSync(file, t, t);
}

describe('registry lock file', () => {
  it('waits for a live owner and times out naming the owner and the file', async () => {
    const file = path.join(tempDir(), 'm.lock');
    foreignLock(file, process.pid); // alive: this very process
    const err = await withLock(file, async () => 1, { timeoutMs: 150, what: "model 'm'" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(new RegExp(`model 'm' is locked by pid ${process.pid}`));
    expect((err as ConfigError).where.file).toBe(file);
  });

  it('breaks locks of dead processes, old locks and locks left empty', async () => {
    const dir = tempDir();
    const dead = path.join(dir, 'dead.lock');
    foreignLock(dead, 2 ** 22 + 12345); // above the default pid_max: no such process
    expect(await withLock(dead, async () => 'ok', { timeoutMs: 2000 })).toBe('ok');

    const old = path.join(dir, 'old.lock');
    foreignLock(old, process.pid, 'another-host');
    age(old, 60_000);
    expect(await withLock(old, async () => 'ok', { timeoutMs: 2000, staleMs: 30_000 })).toBe('ok');

    const empty = path.join(dir, 'empty.lock');
    writeFileSync(empty, '');
    age(empty, 10_000);
    expect(await withLock(empty, async () => 'ok', { timeoutMs: 2000 })).toBe('ok');
  });

  it('releases only its own lock', async () => {
    const file = path.join(tempDir(), 'm.lock');
    await withLock(file, async () => foreignLock(file, process.pid)); // taken over while held
    expect(JSON.parse(readFileSync(file, 'utf8')).token).toBe('someone-else');
  });

  it('serialises holders', async () => {
    const file = path.join(tempDir(), 'm.lock');
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 10 }, () =>
        withLock(file, async () => {
          most = Math.max(most, ++inside);
          await new Promise((r) => setTimeout(r, 2));
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
  });
});
