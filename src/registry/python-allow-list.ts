/**
 * The rule every registration of a Python model passes (`quantflow models
 * register` and the HTTP API alike): its script must be found in one of the
 * allow-listed script directories (after symlinks, see resolvePythonScript)
 * and have the sha256 recorded at training. Checked before anything is
 * stored, so a model that could never be served is never registered.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError, IntegrityError } from '../core/errors.js';
import { sha256Hex } from '../models/model-files.js';
import type { ModelMeta } from '../models/model-meta.js';
import { resolvePythonScript } from '../models/python-model.js';

/** ConfigError when the script is not allowed here; IntegrityError when its bytes differ from training. */
export async function checkPythonScript(meta: ModelMeta, scriptDirs: readonly string[]): Promise<void> {
  const python = meta.python;
  if (python === undefined) {
    throw new ConfigError("a python model's meta.json needs a 'python' field", { field: 'python' });
  }
  let script: string;
  try {
    script = await resolvePythonScript(python.script, scriptDirs);
  } catch (err) {
    throw new ConfigError(
      `python script '${python.script}' is not in an allow-listed script directory (${scriptDirs.join(', ')}; option --python-dir)`,
      { field: 'python.script' },
      { cause: err },
    );
  }
  if (sha256Hex(await readFile(script)) !== python.scriptSha256) {
    throw new IntegrityError(
      `python script '${python.script}' differs from the one the model was trained with (sha256 mismatch)`,
      { file: script, field: 'python.scriptSha256' },
    );
  }
}
