/**
 * The one rule for paths that must stay inside a directory tree (the registry
 * reading its own files, the HTTP API reading a model directory to register):
 * the path is resolved with realpath, so a symbolic link at any depth is
 * followed, and the result must lie strictly inside the root's real path.
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { IntegrityError } from '../core/errors.js';

export function isStrictlyInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

/** The real path of `p`, or undefined when it does not exist (a dangling link included). */
export async function realPathOrUndefined(p: string): Promise<string | undefined> {
  try {
    return await realpath(p);
  } catch {
    return undefined;
  }
}

/**
 * The real path of `p` when it lies strictly inside `realRoot` (itself a real
 * path); undefined when `p` does not exist. Throws IntegrityError naming `p`
 * when it leads outside through a symbolic link.
 */
export async function realPathInside(realRoot: string, p: string): Promise<string | undefined> {
  const real = await realPathOrUndefined(p);
  if (real !== undefined && !isStrictlyInside(realRoot, real)) {
    throw new IntegrityError(`leads outside the registry (${realRoot}) through a symbolic link, to ${real}: refused`, {
      file: p,
    });
  }
  return real;
}
