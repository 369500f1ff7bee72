/**
 * Which Python runs a worker that needs third-party packages. Debian's
 * packages (python3-xgboost, python3-onnx, ...) install into /usr/bin/python3,
 * while the `python3` first on PATH may be another interpreter (pyenv, a
 * virtualenv) without them. So:
 *
 * 1. an interpreter given explicitly (the `python` option, else the
 *    QUANTFLOW_PYTHON environment variable) is used as is, and it is an
 *    error, naming the missing module, when it cannot import what is needed;
 * 2. otherwise the first of `python3` (PATH), /usr/bin/python3,
 *    /usr/local/bin/python3 and `python` that imports every module wins.
 *
 * Probes run once per interpreter and module list per process.
 */
import { execFile } from 'node:child_process';
import { ConfigError } from '../core/errors.js';

export const PYTHON_ENV = 'QUANTFLOW_PYTHON';

/** Tried in this order when no interpreter is configured. */
export const PYTHON_CANDIDATES: readonly string[] = ['python3', '/usr/bin/python3', '/usr/local/bin/python3', 'python'];

/** The Debian package of a module, for the error message. */
const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  numpy: 'python3-numpy',
  onnx: 'python3-onnx',
  sklearn: 'python3-sklearn',
  torch: 'python3-torch',
  xgboost: 'python3-xgboost',
};

export interface PythonInterpreter {
  /** What to spawn. */
  readonly python: string;
  /** Its sys.executable and version. */
  readonly executable: string;
  readonly version: string;
  /** Version of each module asked for. */
  readonly modules: Readonly<Record<string, string>>;
  /** How it was chosen, for logs. */
  readonly reason: string;
}

export interface FindPythonOptions {
  /** An interpreter to use as is (overrides QUANTFLOW_PYTHON). */
  readonly python?: string;
  /** Where QUANTFLOW_PYTHON is read (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly candidates?: readonly string[];
}

type Probe =
  | { ok: true; executable: string; version: string; modules: Record<string, string> }
  | { ok: false; problem: string };

const PROBE = `import importlib, json, sys
mods = {}
for name in sys.argv[1:]:
    try:
        mods[name] = str(getattr(importlib.import_module(name), "__version__", "unknown"))
    except Exception as exc:
        print(json.dumps({"missing": name, "error": "%s: %s" % (type(exc).__name__, exc)}))
        sys.exit(3)
print(json.dumps({"executable": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3], "modules": mods}))
`;

const probes = new Map<string, Promise<Probe>>();

function probe(python: string, modules: readonly string[]): Promise<Probe> {
  const key = `${python}\u0000${modules.join(',')}`;
  let p = probes.get(key);
  if (p === undefined) {
    p = new Promise<Probe>((resolve) => {
      execFile(python, ['-c', PROBE, ...modules], { timeout: 60_000, encoding: 'utf8' }, (err, stdout) => {
        const last = stdout.trim().split('\n').pop() ?? '';
        let reply: {
          executable?: string;
          version?: string;
          modules?: Record<string, string>;
          missing?: string;
          error?: string;
        } = {};
        try {
          reply = JSON.parse(last);
        } catch {
          // not our probe's answer: reported below
        }
        if (err === null && reply.executable !== undefined) {
          resolve({
            ok: true,
            executable: reply.executable,
            version: reply.version ?? '?',
            modules: reply.modules ?? {},
          });
        } else if (reply.missing !== undefined) {
          resolve({ ok: false, problem: `cannot import ${reply.missing} (${reply.error})` });
        } else {
          const code = (err as NodeJS.ErrnoException | null)?.code;
          resolve({
            ok: false,
            problem: code === 'ENOENT' ? 'not found' : `does not run (${err?.message ?? 'no answer'})`,
          });
        }
      });
    });
    probes.set(key, p);
  }
  return p;
}

function installHint(modules: readonly string[]): string {
  const packages = modules.map((m) => DEBIAN_PACKAGES[m] ?? m);
  return `install them (Debian/Ubuntu: apt-get install ${packages.join(' ')}) or set ${PYTHON_ENV} to an interpreter that has them`;
}

/** The interpreter to run a worker needing `modules`; ConfigError saying what each candidate lacks otherwise. */
export async function findPython(
  modules: readonly string[],
  options: FindPythonOptions = {},
): Promise<PythonInterpreter> {
  const fromEnv = (options.env ?? process.env)[PYTHON_ENV];
  const configured = options.python ?? (fromEnv !== undefined && fromEnv.trim() !== '' ? fromEnv.trim() : undefined);
  const found = (python: string, p: Extract<Probe, { ok: true }>, reason: string): PythonInterpreter => ({
    python,
    executable: p.executable,
    version: p.version,
    modules: p.modules,
    reason,
  });
  if (configured !== undefined) {
    const how = options.python !== undefined ? 'the python option' : PYTHON_ENV;
    const p = await probe(configured, modules);
    if (!p.ok) {
      throw new ConfigError(`python interpreter '${configured}' (from ${how}) ${p.problem}; ${installHint(modules)}`, {
        field: options.python !== undefined ? 'python' : PYTHON_ENV,
      });
    }
    return found(configured, p, `configured by ${how}`);
  }
  const problems: string[] = [];
  for (const candidate of options.candidates ?? PYTHON_CANDIDATES) {
    const p = await probe(candidate, modules);
    if (p.ok) return found(candidate, p, `first interpreter with ${modules.join(', ')}`);
    problems.push(`${candidate}: ${p.problem}`);
  }
  throw new ConfigError(
    `no Python interpreter can import ${modules.join(', ')} (${problems.join('; ')}); ${installHint(modules)}`,
    {
      field: 'python',
    },
  );
}
