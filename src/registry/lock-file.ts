/**
 * An exclusive lock between processes: a file created with O_CREAT|O_EXCL
 * holding the owner's pid, host and a random token. Waiters poll with jittered
 * back-off until a timeout.
 *
 * Stale locks (the owner died without removing the file) are broken when the
 * owner's pid is gone on this host, or when the lock is older than `staleMs`.
 * Breaking goes through a second O_EXCL file (`<lock>.break`) and re-checks
 * that the lock is still the stale one, so two waiters cannot both break it
 * and then delete each other's fresh lock. Release removes the file only if it
 * still holds our token.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../core/errors.js';

export interface LockOptions {
  /** Give up waiting after this long (default 30 s). */
  readonly timeoutMs?: number;
  /** A lock older than this is stale even if its owner cannot be checked (default 10 min). */
  readonly staleMs?: number;
  /** Describes what is locked, for the timeout message (e.g. "model 'btc'"). */
  readonly what?: string;
}

interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
  readonly since: string;
}

const BREAKER_STALE_MS = 10_000;
/** A lock file still empty after this long belongs to a process that died right after creating it. */
const EMPTY_LOCK_STALE_MS = 5_000;

export async function withLock<T>(file: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const token = await acquire(file, options);
  try {
    return await fn();
  } finally {
    await release(file, token);
  }
}

async function acquire(file: string, options: LockOptions): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const staleMs = options.staleMs ?? 600_000;
  await mkdir(path.dirname(file), { recursive: true });
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    token: randomBytes(12).toString('hex'),
    since: new Date().toISOString(),
  };
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    if (await tryCreate(file, owner)) return owner.token;
    const held = await inspect(file);
    if (held !== null && isStale(held, staleMs)) {
      await breakStale(file, held.text);
      continue;
    }
    if (Date.now() >= deadline) {
      const by = held?.owner ? ` by pid ${held.owner.pid} on ${held.owner.host} since ${held.owner.since}` : '';
      throw new ConfigError(
        `${options.what ?? 'registry'} is locked${by}; if no other quantflow process is running, delete the lock file`,
        { file },
      );
    }
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 100);
  }
}

async function tryCreate(file: string, owner: LockOwner): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await handle.writeFile(JSON.stringify(owner));
  } finally {
    await handle.close();
  }
  return true;
}

interface HeldLock {
  readonly text: string;
  readonly owner: LockOwner | null;
  readonly ageMs: number;
}

async function inspect(file: string): Promise<HeldLock | null> {
  try {
    const [text, info] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    let owner: LockOwner | null = null;
    try {
      const v = JSON.parse(text) as Partial<LockOwner>;
      if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.token === 'string') {
        owner = v as LockOwner;
      }
    } catch {
      owner = null;
    }
    return { text, owner, ageMs: Date.now() - info.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null; // released meanwhile: retry at once
    throw err;
  }
}

function isStale(held: HeldLock, staleMs: number): boolean {
  if (held.ageMs > staleMs) return true;
  if (held.owner === null) return held.ageMs > EMPTY_LOCK_STALE_MS;
  return held.owner.host === hostname() && !processAlive(held.owner.pid);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function breakStale(file: string, staleText: string): Promise<void> {
  const breaker = `${file}.break`;
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(breaker, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Someone else is breaking it; clear a breaker left by a process that died doing so.
    const info = await stat(breaker).catch(() => null);
    if (info !== null && Date.now() - info.mtimeMs > BREAKER_STALE_MS) await rm(breaker, { force: true });
    await sleep(5 + Math.random() * 10);
    return;
  }
  try {
    await handle.close();
    const now = await readFile(file, 'utf8').catch(() => null);
    if (now === staleText) await rm(file, { force: true });
  } finally {
    await rm(breaker, { force: true });
  }
}

async function release(file: string, token: string): Promise<void> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return;
  try {
    if ((JSON.parse(text) as Partial<LockOwner>).token !== token) return; // broken as stale and taken over
  } catch {
    return;
  }
  await rm(file, { force: true });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
