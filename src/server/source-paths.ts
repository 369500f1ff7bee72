/**
 * Where `POST /api/ml/models` may read a model directory from: only inside
 * the configured models directory or the registry itself. A path is refused
 * when it has a '..' segment, and otherwise must pass the registry's own
 * containment rule (contained-path.ts: after realpath, so no symlink at any
 * depth can lead outside, strictly inside one of the allowed roots). Relative paths are taken from the models directory.
 * Files inside the directory must be regular files (the registry refuses
 * symlinked files), so a link cannot smuggle in a file from elsewhere either.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { isStrictlyInside, realPathOrUndefined } from '../registry/contained-path.js';
import { ApiError } from './api-errors.js';

export interface SourceRoots {
  /** Relative source paths resolve here; undefined = only absolute paths inside the registry are allowed. */
  readonly modelsDir: string | undefined;
  readonly registryRoot: string;
}

/** The real path of an allowed model directory named by a request's `field`; ApiError otherwise. */
export async function resolveSourceDirectory(input: string, roots: SourceRoots, field: string): Promise<string> {
  const refuse = (message: string): never => {
    throw new ApiError(400, 'PATH_NOT_ALLOWED', message, field);
  };
  if (input.length === 0 || input.includes('\0')) refuse('the path is empty or contains a NUL byte');
  if (input.split(/[\\/]+/).includes('..')) refuse(`'..' is not allowed in model paths`);
  const allowed = [roots.modelsDir, roots.registryRoot].filter((r): r is string => r !== undefined);
  let candidate: string;
  if (path.isAbsolute(input)) {
    candidate = path.resolve(input);
  } else if (roots.modelsDir !== undefined) {
    candidate = path.resolve(roots.modelsDir, input);
  } else {
    return refuse('relative paths need a models directory (server option --models-dir); none is configured');
  }
  const realRoots = (await Promise.all(allowed.map(realPathOrUndefined))).filter((r): r is string => r !== undefined);
  const lexicallyInside = allowed.some((r) => isStrictlyInside(path.resolve(r), candidate));
  const real = await realPathOrUndefined(candidate);
  if (real === undefined) {
    // Do not tell a caller probing the file system whether a path outside the roots exists.
    if (!lexicallyInside) refuse(describeRoots(roots));
    throw new ApiError(404, 'SOURCE_NOT_FOUND', `no model directory '${input}'`, field);
  }
  if (!realRoots.some((r) => isStrictlyInside(r, real))) {
    refuse(
      lexicallyInside
        ? `'${input}' leads outside the allowed directories through a symbolic link`
        : describeRoots(roots),
    );
  }
  if (!(await stat(real)).isDirectory()) {
    throw new ApiError(400, 'NOT_A_DIRECTORY', `'${input}' is not a directory`, field);
  }
  return real;
}

function describeRoots(roots: SourceRoots): string {
  return roots.modelsDir === undefined
    ? 'model paths must lie inside the registry (no models directory is configured)'
    : 'model paths must lie inside the models directory or the registry';
}

/** Checks again, after reading, that `dir` still resolves to itself (it was not swapped for a link meanwhile). */
export async function assertUnchanged(dir: string, field: string): Promise<void> {
  if ((await realPathOrUndefined(dir)) !== dir) {
    throw new ApiError(409, 'SOURCE_CHANGED', 'the model directory changed while it was read; try again', field);
  }
}
