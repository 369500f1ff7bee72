/**
 * Where a command finds the model registry: `--registry DIR`, else a non-empty
 * $QUANTFLOW_REGISTRY, else .quantflow/registry. Plain strings only, so
 * commands that load the registry code lazily (paper, live) stay light.
 */

const DEFAULT_REGISTRY = '.quantflow/registry';

/** Help of a `--registry <dir>` option: what the registry is for, then its default. */
export function registryOptionHelp(what: string): string {
  return `${what} (default $QUANTFLOW_REGISTRY or ${DEFAULT_REGISTRY})`;
}

/** The registry directory for a `--registry` value (undefined when not given). */
export function registryRoot(option: string | undefined): string {
  const fromEnv = process.env.QUANTFLOW_REGISTRY;
  return option ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_REGISTRY);
}
