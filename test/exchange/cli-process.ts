/** The quantflow CLI as a child process (tsx), its output collected, for the process-level trading tests. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface Child {
  readonly proc: ChildProcessWithoutNullStreams;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited(): Promise<number | null>;
}

/** Runs `quantflow ARGS` from the repository root with `env` added. */
export function startCli(args: readonly string[], env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, QUANTFLOW_DEBUG: '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString('utf8');
    for (const l of [...listeners]) l();
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    output: () => out,
    exited: () => exit,
    waitFor(pattern, timeoutMs = 8_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(out);
          if (m === null) return;
          cleanup();
          resolve(m[0]);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern} in:\n${out}`));
        }, timeoutMs);
        const gone = () => {
          cleanup();
          reject(new Error(`process exited while waiting for ${pattern}:\n${out}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          proc.off('exit', gone);
        };
        listeners.add(check);
        proc.on('exit', gone);
        check();
      });
    },
  };
}
