/**
 * Leftovers of interrupted work, never listed or loaded (only the index says
 * what exists):
 * - temporary entries (`.tmp-*` version directories of crashed saves,
 *   `.index.json.tmp-*` files): removed by the next writer of the model, under
 *   its lock, where no other save can be running;
 * - unindexed version directories (a save renamed into place whose index
 *   update never happened): their numbers are skipped, and they are removed
 *   only by `verify --fix`, and only next to a readable index, so a lost
 *   index.json never gets versions deleted automatically;
 * - `models/.trash-*`: models half-way through deletion (removed by verify --fix).
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ModelIndex } from './model-index.js';
import { INDEX_FILE, TRASH_PREFIX, versionNumber } from './registry-layout.js';

export interface Leftovers {
  /** Temporary files and directories (absolute paths). */
  readonly temporary: readonly string[];
  /** Version directories the index does not list (absolute paths). */
  readonly unindexed: readonly string[];
}

async function entriesOf(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Entries of `modelDir` that are neither its index nor a version the index lists. */
export async function findLeftovers(modelDir: string, index: ModelIndex | null): Promise<Leftovers> {
  const temporary: string[] = [];
  const unindexed: string[] = [];
  for (const e of await entriesOf(modelDir)) {
    if (e === INDEX_FILE || (index !== null && e in index.versions)) continue;
    (versionNumber(e) !== null ? unindexed : temporary).push(path.join(modelDir, e));
  }
  return { temporary, unindexed };
}

/** Highest version number of any directory in `modelDir`, listed or not (0 when none). */
export async function highestVersionOnDisk(modelDir: string): Promise<number> {
  let max = 0;
  for (const e of await entriesOf(modelDir)) max = Math.max(max, versionNumber(e) ?? 0);
  return max;
}

/**
 * Removes leftovers of one model; call only while holding the model's lock.
 * Unindexed versions are removed only when `index` is given (see above).
 * Returns the paths removed.
 */
export async function removeLeftovers(
  modelDir: string,
  index: ModelIndex | null,
  options: { unindexed: boolean },
): Promise<string[]> {
  const found = await findLeftovers(modelDir, index);
  const doomed = options.unindexed && index !== null ? [...found.temporary, ...found.unindexed] : [...found.temporary];
  for (const p of doomed) await rm(p, { recursive: true, force: true });
  return doomed;
}

/** Removes models whose deletion was interrupted (renamed to `.trash-*`, already invisible). */
export async function removeTrash(modelsDir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const e of (await entriesOf(modelsDir)).filter((x) => x.startsWith(TRASH_PREFIX))) {
    const p = path.join(modelsDir, e);
    await rm(p, { recursive: true, force: true });
    removed.push(p);
  }
  return removed;
}
