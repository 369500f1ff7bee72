/**
 * Durable, all-or-nothing writes: data goes to a temporary name, is fsynced,
 * then renamed into place, and the parent directory is fsynced so the rename
 * itself survives a power loss. A crash leaves the old content or the new one,
 * plus at most a leftover temporary file or directory.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** fsync a directory so renames and new entries in it are durable (a no-op where unsupported). */
export async function fsyncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Windows cannot open or fsync directories; some file systems refuse it too.
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw err;
  } finally {
    await handle?.close();
  }
}

/** Writes `data` to `file` and fsyncs it before returning. Fails if `file` exists when `exclusive`. */
export async function writeFileDurably(file: string, data: Uint8Array, exclusive = false): Promise<void> {
  const handle = await open(file, exclusive ? 'wx' : 'w');
  try {
    let offset = 0;
    while (offset < data.byteLength) {
      const { bytesWritten } = await handle.write(data, offset, data.byteLength - offset);
      offset += bytesWritten;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export function temporaryName(prefix: string): string {
  return `${prefix}${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** Replaces `file` with `data` atomically (temporary sibling, fsync, rename, fsync of the directory). */
export async function replaceFileAtomically(file: string, data: Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, temporaryName(`.${path.basename(file)}.tmp-`));
  try {
    await writeFileDurably(tmp, data, true);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDirectory(dir);
}

/**
 * Creates `file` with `data` only if it does not exist yet, atomically: the
 * complete temporary file is hard-linked to its final name (link fails when
 * the name is taken). Returns false when another writer got there first.
 */
export async function createFileAtomically(file: string, data: Uint8Array): Promise<boolean> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, temporaryName(`.${path.basename(file)}.tmp-`));
  try {
    await writeFileDurably(tmp, data, true);
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
  await fsyncDirectory(dir);
  return true;
}

/**
 * Writes a directory of files atomically: each file is written and fsynced in
 * a temporary sibling directory (`tempDir`), which is fsynced and renamed to
 * `target` last. `target` must not exist. `beforeRename` runs once everything
 * is written (a hook for crash tests and progress reporting).
 */
export async function writeDirectoryAtomically(
  target: string,
  tempDir: string,
  files: Iterable<readonly [string, Uint8Array]>,
  beforeRename?: () => Promise<void> | void,
): Promise<void> {
  await mkdir(tempDir);
  try {
    for (const [name, data] of files) await writeFileDurably(path.join(tempDir, name), data, true);
    await fsyncDirectory(tempDir);
    await beforeRename?.();
    await rename(tempDir, target);
  } catch (err) {
    await rm(tempDir, { recursive: true, force: true });
    throw err;
  }
  await fsyncDirectory(path.dirname(target));
}
