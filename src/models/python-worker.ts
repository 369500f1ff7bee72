/**
 * One persistent `python3 -u` process running a model script, spoken to with
 * newline-delimited JSON over stdin/stdout (the Python half is
 * `python/quantflow_worker.py`):
 *
 *   request  {"id":7,"method":"predict","params":{...}}
 *   reply    {"id":7,"result":...}
 *         or {"id":7,"error":{"type":"ValueError","message":"...","traceback":"...","where":{...}}}
 *   event    {"event":"ready","pid":123,"python":"3.11.7","protocol":1}   (once, at start)
 *
 * Requests are multiplexed by id (Python answers them one at a time, in
 * order). Each has a timeout; on expiry the process is killed, because its
 * state is unknown, and the next request starts a new one. A crash rejects the
 * requests in flight with the exit code or signal and the stderr tail, and the
 * next request restarts the process and first replays the remembered
 * `requestAndReplay` calls (the model's `load`). Too many unplanned restarts in
 * a window and the worker gives up for good.
 *
 * The script is started through a small bootstrap (`python3 -u -c ...`) that
 * reads the script's bytes once, optionally checks their sha256, and executes
 * exactly those bytes, so a script swapped after it was checked never runs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { ConfigError, IntegrityError, ModelError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';

export interface PythonWorkerOptions {
  /** Absolute path of the model script; it calls `quantflow_worker.serve(...)`. */
  readonly script: string;
  /** When set, Python refuses to run the script unless the bytes it executes have this sha256. */
  readonly scriptSha256?: string;
  /** Extra arguments for the script (its `sys.argv[1:]`). */
  readonly args?: readonly string[];
  /** Python executable (default 'python3'). */
  readonly python?: string;
  /** Directories put in front of PYTHONPATH, e.g. the one holding quantflow_worker.py. */
  readonly pythonPath?: readonly string[];
  readonly cwd?: string;
  /** Environment of the process (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** Default timeout of one request, from when it is written (default 30 s). */
  readonly requestTimeoutMs?: number;
  /** Unplanned restarts (crashes, timeouts, failed replays) tolerated within `restartWindowMs` (default 3). */
  readonly maxRestarts?: number;
  readonly restartWindowMs?: number;
  /** How long `close()` waits for a clean exit before SIGTERM, then SIGKILL (default 2 s). */
  readonly shutdownTimeoutMs?: number;
  /** Stderr lines kept for error messages (default 50). */
  readonly stderrLines?: number;
  readonly logger?: Logger;
}

export interface PythonWorkerStats {
  readonly pid: number | undefined;
  /** Processes started so far. */
  readonly starts: number;
  readonly crashes: number;
  readonly timeouts: number;
  /** Lines on stdout that were not a well-formed message, or answered no pending request. */
  readonly malformedLines: number;
  readonly requests: number;
}

export interface PythonPing {
  readonly pid: number;
  readonly python: string;
  readonly protocol: number;
  readonly model: string;
}

/** Where Python says an exception was raised (innermost traceback frame). */
export interface PythonErrorWhere {
  readonly file: string;
  readonly line: number;
  readonly function: string;
}

/** An exception raised by the Python model while answering a request. */
export class PythonError extends ModelError {
  readonly method: string;
  readonly pythonType: string;
  readonly pythonMessage: string;
  readonly traceback: string;

  constructor(method: string, type: string, message: string, traceback: string, where?: PythonErrorWhere) {
    const at = where === undefined ? {} : { file: where.file, line: where.line };
    super(`python ${type} in '${method}': ${message}`, at);
    this.method = method;
    this.pythonType = type;
    this.pythonMessage = message;
    this.traceback = traceback;
    if (traceback !== '') this.stack = `${this.stack}\nPython ${traceback.trimEnd()}`;
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_STDERR_LINE = 2_000;
const SHA_REFUSED_EXIT = 97;

/** Runs the script's verified bytes as `__main__`, with the script's directory first on sys.path. */
const BOOTSTRAP = `import sys as _qf_sys
def _qf_boot():
    import hashlib, os
    path, want = _qf_sys.argv[1], _qf_sys.argv[2]
    with open(path, "rb") as f:
        src = f.read()
    got = hashlib.sha256(src).hexdigest()
    if want and got != want:
        _qf_sys.stderr.write("quantflow: refusing to run %s: its sha256 %s differs from the expected %s\\n" % (path, got, want))
        _qf_sys.exit(${SHA_REFUSED_EXIT})
    _qf_sys.argv = [path] + _qf_sys.argv[3:]
    _qf_sys.path[0] = os.path.dirname(path)
    return path, compile(src, path, "exec")
__file__, _qf_code = _qf_boot()
del _qf_boot
exec(_qf_code)
`;

interface Pending {
  readonly id: number;
  readonly method: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/** One python process and the requests written to it. */
interface Proc {
  readonly child: ChildProcess;
  readonly pending: Map<number, Pending>;
  readonly stderr: string[];
  stderrPartial: string;
  /** Pieces of an stdout line not yet ended by a newline. */
  readonly stdoutParts: string[];
  /** Set when we end the process ourselves (timeout, close, failed replay): its exit is not a crash. */
  endReason: string | undefined;
  /** Killed after a timeout: its further output is ignored. */
  killed: boolean;
  /** It sent the ready event or a well-formed reply. */
  ready: boolean;
  finalized: boolean;
  exitFallback: NodeJS.Timeout | undefined;
  readonly exited: Promise<void>;
  markExited(): void;
}

/** Processes still alive, killed if this Node process exits without closing them. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
}

function unrefStream(stream: unknown): void {
  (stream as { unref?: () => void } | null)?.unref?.();
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Float32 values as base64 of their little-endian bytes (the protocol's matrix encoding). */
export function float32ToBase64(values: Float32Array): string {
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  if (LITTLE_ENDIAN) return bytes.toString('base64');
  return Buffer.from(bytes).swap32().toString('base64');
}

/** Inverse of `float32ToBase64`; throws ModelError when the byte count is not a multiple of 4. */
export function base64ToFloat32(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.byteLength % 4 !== 0) {
    throw new ModelError(`float32 payload has ${bytes.byteLength} bytes, not a multiple of 4`);
  }
  const out = new Float32Array(bytes.byteLength / 4);
  const view = Buffer.from(out.buffer);
  view.set(bytes);
  if (!LITTLE_ENDIAN) view.swap32();
  return out;
}

export class PythonWorker {
  readonly script: string;
  private readonly scriptSha256: string | undefined;
  private readonly python: string;
  private readonly args: readonly string[];
  private readonly pythonPath: readonly string[];
  private readonly cwd: string | undefined;
  private readonly env: NodeJS.ProcessEnv | undefined;
  private readonly timeoutMs: number;
  private readonly maxRestarts: number;
  private readonly restartWindowMs: number;
  private readonly shutdownTimeoutMs: number;
  private readonly stderrLines: number;
  private readonly logger: Logger;

  private proc: Proc | undefined;
  private starting: Promise<Proc> | undefined;
  private readonly replays = new Map<string, unknown>();
  private restartTimes: number[] = [];
  private failure: ModelError | undefined;
  private closing: Promise<void> | undefined;
  private nextId = 1;
  private counts = { starts: 0, crashes: 0, timeouts: 0, malformedLines: 0, requests: 0 };
  private lastStderr: readonly string[] = [];

  constructor(options: PythonWorkerOptions) {
    if (!path.isAbsolute(options.script)) {
      throw new ConfigError(`python script must be an absolute path, got '${options.script}'`, { field: 'script' });
    }
    const timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new ConfigError(`requestTimeoutMs must be a positive number of milliseconds, got ${timeoutMs}`, {
        field: 'requestTimeoutMs',
      });
    }
    this.script = options.script;
    this.scriptSha256 = options.scriptSha256;
    this.python = options.python ?? 'python3';
    this.args = options.args ?? [];
    this.pythonPath = options.pythonPath ?? [];
    this.cwd = options.cwd;
    this.env = options.env;
    this.timeoutMs = timeoutMs;
    this.maxRestarts = options.maxRestarts ?? 3;
    this.restartWindowMs = options.restartWindowMs ?? 60_000;
    this.shutdownTimeoutMs = options.shutdownTimeoutMs ?? 2_000;
    this.stderrLines = options.stderrLines ?? 50;
    this.logger = options.logger ?? silentLogger;
  }

  /** Pid of the running process, if any. */
  get pid(): number | undefined {
    const proc = this.proc;
    return proc === undefined || proc.finalized ? undefined : proc.child.pid;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  get stats(): PythonWorkerStats {
    return { pid: this.pid, ...this.counts };
  }

  /** The last stderr lines of the current process (or of the last one that ended). */
  stderrTail(lines = 10): string[] {
    const source = this.proc?.stderr ?? this.lastStderr;
    return source.slice(-lines);
  }

  /** Starts the process now (otherwise the first request does). */
  async start(): Promise<void> {
    await this.ready();
  }

  /** Round trip to Python: its pid and version. */
  ping(timeoutMs?: number): Promise<PythonPing> {
    return this.request<PythonPing>('ping', {}, timeoutMs === undefined ? {} : { timeoutMs });
  }

  /**
   * Sends one request and resolves with its `result`. Rejects with PythonError
   * when Python raised, and ModelError on timeout, crash or a closed worker.
   */
  request<T = unknown>(method: string, params: unknown = {}, options: { timeoutMs?: number } = {}): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    let proc: Proc | Promise<Proc>;
    try {
      proc = this.ready();
    } catch (err) {
      return Promise.reject(err);
    }
    // Written at once when the process is up, so requests reach Python in call order.
    if (!(proc instanceof Promise)) return this.send<T>(proc, method, params, timeoutMs);
    return proc.then((p) => this.send<T>(p, method, params, timeoutMs));
  }

  /**
   * Like `request`, and once it succeeds the call is remembered (one per
   * method, the latest wins) and replayed first in every restarted process:
   * how a model's `load` survives crashes.
   */
  async requestAndReplay<T = unknown>(
    method: string,
    params: unknown = {},
    options: { timeoutMs?: number } = {},
  ): Promise<T> {
    const result = await this.request<T>(method, params, options);
    this.replays.delete(method);
    this.replays.set(method, params);
    return result;
  }

  /**
   * Asks Python to shut down and waits for it to exit, then SIGTERM and
   * SIGKILL if it does not. Requests still in flight are rejected. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** The live process, or a promise of one being started (and replayed). Throws once closed or given up. */
  private ready(): Proc | Promise<Proc> {
    if (this.closing !== undefined) throw new ModelError('python worker is closed', { file: this.script });
    if (this.failure !== undefined) throw this.failure;
    const proc = this.proc;
    if (this.starting === undefined && proc !== undefined && !proc.finalized && proc.endReason === undefined) {
      return proc;
    }
    this.starting ??= this.startProc().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async startProc(): Promise<Proc> {
    const proc = this.spawnProc();
    for (const [method, params] of this.replays) {
      try {
        await this.send(proc, method, params, this.timeoutMs);
      } catch (err) {
        const reason = `replaying '${method}' in the restarted worker failed: ${(err as Error).message}`;
        if (!proc.finalized && proc.endReason === undefined) {
          this.endProc(proc, reason);
          this.noteUnplannedEnd(reason);
        }
        throw new ModelError(reason, { file: this.script }, { cause: err });
      }
    }
    return proc;
  }

  private spawnProc(): Proc {
    installExitHook();
    const env: NodeJS.ProcessEnv = {
      ...(this.env ?? process.env),
      PYTHONUNBUFFERED: '1',
      PYTHONDONTWRITEBYTECODE: '1',
    };
    const extra = [...this.pythonPath, env.PYTHONPATH].filter((p): p is string => p !== undefined && p !== '');
    if (extra.length > 0) env.PYTHONPATH = extra.join(path.delimiter);
    const child = spawn(this.python, ['-u', '-c', BOOTSTRAP, this.script, this.scriptSha256 ?? '', ...this.args], {
      cwd: this.cwd,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    let markExited!: () => void;
    const exited = new Promise<void>((resolve) => {
      markExited = resolve;
    });
    const proc: Proc = {
      child,
      pending: new Map(),
      stderr: [],
      stderrPartial: '',
      stdoutParts: [],
      endReason: undefined,
      killed: false,
      ready: false,
      finalized: false,
      exitFallback: undefined,
      exited,
      markExited,
    };
    this.proc = proc;
    this.counts.starts++;
    liveChildren.add(child);

    child.on('error', (err) => {
      if (child.pid === undefined) this.finalize(proc, null, null, err);
      else this.logger.warn('python worker process error', { pid: child.pid, error: err.message });
    });
    child.on('exit', (code, signal) => {
      // 'close' follows once stdout and stderr are drained; a grandchild holding them open must not stall us.
      proc.exitFallback = setTimeout(() => this.finalize(proc, code, signal), 1_000);
      proc.exitFallback.unref();
    });
    child.on('close', (code, signal) => this.finalize(proc, code, signal));
    child.stdin?.on('error', () => {
      // EPIPE after the process died: reported by the exit handler with the exit code and stderr.
    });
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.onStdout(proc, chunk));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => this.onStderr(proc, chunk));
    // An idle worker does not keep Node alive; a pending request does, through its timer.
    child.unref();
    unrefStream(child.stdin);
    unrefStream(child.stdout);
    unrefStream(child.stderr);
    if (child.pid !== undefined) {
      this.logger.debug('python worker started', { pid: child.pid, script: this.script, python: this.python });
    }
    return proc;
  }

  private send<T>(proc: Proc, method: string, params: unknown, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (proc.finalized || proc.endReason !== undefined) {
        const why = this.closing !== undefined ? 'was closed' : `stopped (${proc.endReason ?? 'it exited'})`;
        reject(new ModelError(`python worker ${why} before request '${method}' could be sent`, { file: this.script }));
        return;
      }
      const id = this.nextId++;
      let line: string;
      try {
        line = JSON.stringify({ id, method, params });
      } catch (err) {
        reject(new ModelError(`params of '${method}' cannot be sent as JSON: ${(err as Error).message}`));
        return;
      }
      const pending: Pending = { id, method, resolve: resolve as (v: unknown) => void, reject, timer: undefined };
      pending.timer = setTimeout(() => this.onTimeout(proc, pending, timeoutMs), timeoutMs);
      proc.pending.set(id, pending);
      this.counts.requests++;
      proc.child.stdin?.write(`${line}\n`);
    });
  }

  private onTimeout(proc: Proc, pending: Pending, timeoutMs: number): void {
    if (!proc.pending.delete(pending.id)) return;
    this.counts.timeouts++;
    const pid = proc.child.pid;
    const reason = `request '${pending.method}' (id ${pending.id}) timed out after ${timeoutMs} ms`;
    pending.reject(
      new ModelError(
        `python ${reason}; the worker (pid ${pid}) was killed since its state is unknown, and restarts on the next request`,
        { file: this.script },
      ),
    );
    this.logger.warn('python request timed out; killing the worker', { pid, method: pending.method, timeoutMs });
    this.endProc(proc, reason);
    this.noteUnplannedEnd(reason);
  }

  /** Kills `proc` on purpose and rejects what it still owes. */
  private endProc(proc: Proc, reason: string): void {
    proc.endReason = reason;
    proc.killed = true;
    if (this.proc === proc) this.proc = undefined;
    this.rejectAll(proc, (p) => {
      return new ModelError(
        `python request '${p.method}' (id ${p.id}) was cancelled: the worker (pid ${proc.child.pid}) was stopped because ${reason}`,
        { file: this.script },
      );
    });
    proc.child.kill('SIGKILL');
  }

  private rejectAll(proc: Proc, makeError: (p: Pending) => Error): void {
    const all = [...proc.pending.values()];
    proc.pending.clear();
    for (const p of all) {
      clearTimeout(p.timer);
      p.reject(makeError(p));
    }
  }

  /** Counts a crash, timeout or failed replay; past the limit the worker gives up. Returns the give-up error. */
  private noteUnplannedEnd(reason: string): ModelError | undefined {
    const now = Date.now();
    this.restartTimes = this.restartTimes.filter((t) => t > now - this.restartWindowMs);
    this.restartTimes.push(now);
    if (this.failure === undefined && this.restartTimes.length > this.maxRestarts) {
      const seconds = Math.round(this.restartWindowMs / 1000);
      const tail = this.stderrTail(5);
      this.failure = new ModelError(
        `python worker for ${path.basename(this.script)} stopped ${this.restartTimes.length} time(s) within ${seconds} s ` +
          `(last: ${reason}); giving up, at most ${this.maxRestarts} restart(s) are allowed` +
          (tail.length > 0 ? `; last stderr: ${tail.join(' | ')}` : ''),
        { file: this.script },
      );
      this.logger.error('python worker gave up', { script: this.script, reason });
    }
    return this.failure;
  }

  private finalize(proc: Proc, code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void {
    if (proc.finalized) return;
    proc.finalized = true;
    clearTimeout(proc.exitFallback);
    if (proc.stderrPartial !== '') this.pushStderr(proc, proc.stderrPartial);
    proc.stderrPartial = '';
    liveChildren.delete(proc.child);
    this.lastStderr = proc.stderr;
    if (this.proc === proc) this.proc = undefined;
    proc.markExited();

    if (proc.endReason !== undefined) {
      this.rejectAll(proc, (p) => {
        return new ModelError(`python request '${p.method}' (id ${p.id}) was cancelled: ${proc.endReason}`, {
          file: this.script,
        });
      });
      return;
    }

    this.counts.crashes++;
    const pid = proc.child.pid;
    const how =
      spawnError !== undefined
        ? `could not be started with '${this.python}' (${spawnError.message})`
        : signal !== null
          ? `was killed by signal ${signal}`
          : `exited with code ${code}`;
    const when = proc.ready ? '' : ' during start-up';
    const tail = proc.stderr.slice(-12);
    const stderrText = tail.length > 0 ? `; last stderr lines:\n${tail.join('\n')}` : '; no stderr output';
    const refused =
      code === SHA_REFUSED_EXIT &&
      this.scriptSha256 !== undefined &&
      tail.some((l) => l.startsWith('quantflow: refusing'));
    const failure = this.noteUnplannedEnd(`the process ${how}`);
    const next =
      failure === undefined
        ? 'it restarts on the next request'
        : this.maxRestarts === 0
          ? 'restarts are disabled for this worker'
          : failure.message;
    this.logger.warn('python worker ended unexpectedly', { pid, code, signal, stderr: tail.slice(-5) });
    this.rejectAll(proc, (p) => {
      const message = `python worker (pid ${pid ?? 'none'}) ${how}${when} while request '${p.method}' (id ${p.id}) was in flight; ${next}${stderrText}`;
      return refused
        ? new IntegrityError(message, { file: this.script })
        : new ModelError(message, { file: this.script });
    });
  }

  private onStdout(proc: Proc, chunk: string): void {
    if (proc.killed) return;
    // Only the new chunk is searched, so a long reply arriving in many chunks costs linear time.
    let start = 0;
    let newline = chunk.indexOf('\n');
    while (newline !== -1) {
      const piece = chunk.slice(start, newline);
      const line = proc.stdoutParts.length === 0 ? piece : proc.stdoutParts.join('') + piece;
      proc.stdoutParts.length = 0;
      this.onLine(proc, line);
      if (proc.killed) return;
      start = newline + 1;
      newline = chunk.indexOf('\n', start);
    }
    if (start < chunk.length) proc.stdoutParts.push(start === 0 ? chunk : chunk.slice(start));
  }

  private onLine(proc: Proc, raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      this.malformed(proc, line, 'not JSON');
      return;
    }
    if (!isRecord(message)) {
      this.malformed(proc, line, 'not a JSON object');
      return;
    }
    if (message.event === 'ready') {
      proc.ready = true;
      this.logger.debug('python worker ready', { pid: message.pid, python: message.python });
      return;
    }
    const id = message.id;
    const pending = typeof id === 'number' ? proc.pending.get(id) : undefined;
    if (pending === undefined) {
      // While closing, the reply to 'shutdown' (and anything after) needs no owner.
      if (proc.endReason !== undefined) return;
      this.malformed(proc, line, typeof id === 'number' ? `no request with id ${id} is pending` : 'no numeric id');
      return;
    }
    proc.pending.delete(pending.id);
    clearTimeout(pending.timer);
    if ('result' in message) {
      proc.ready = true;
      pending.resolve(message.result);
    } else if (isRecord(message.error)) {
      proc.ready = true;
      pending.reject(this.pythonError(pending.method, message.error));
    } else {
      this.counts.malformedLines++;
      pending.reject(
        new ModelError(
          `python worker sent a malformed reply to '${pending.method}' (id ${pending.id}): neither 'result' nor 'error' (${truncate(line, 200)})`,
          { file: this.script },
        ),
      );
    }
  }

  private pythonError(method: string, error: Record<string, unknown>): PythonError {
    const text = (v: unknown, fallback: string) => (typeof v === 'string' ? v : fallback);
    const where = isRecord(error.where) ? error.where : undefined;
    const at =
      where !== undefined && typeof where.file === 'string' && typeof where.line === 'number'
        ? { file: where.file, line: where.line, function: text(where.function, '?') }
        : undefined;
    return new PythonError(
      method,
      text(error.type, 'Error'),
      text(error.message, '(no message)'),
      text(error.traceback, ''),
      at,
    );
  }

  private malformed(proc: Proc, line: string, reason: string): void {
    this.counts.malformedLines++;
    this.logger.warn('python worker wrote a malformed line on stdout', {
      pid: proc.child.pid,
      reason,
      line: truncate(line, 200),
    });
  }

  private onStderr(proc: Proc, chunk: string): void {
    const parts = (proc.stderrPartial + chunk).split('\n');
    proc.stderrPartial = (parts.pop() ?? '').slice(0, MAX_STDERR_LINE + 1);
    for (const part of parts) this.pushStderr(proc, part);
  }

  private pushStderr(proc: Proc, raw: string): void {
    const line = truncate(raw.endsWith('\r') ? raw.slice(0, -1) : raw, MAX_STDERR_LINE);
    proc.stderr.push(line);
    if (proc.stderr.length > this.stderrLines) proc.stderr.splice(0, proc.stderr.length - this.stderrLines);
    this.logger.debug('python stderr', { pid: proc.child.pid, line });
  }

  private async shutdown(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (proc === undefined || proc.finalized) return;
    proc.endReason = 'the worker was closed';
    const { child } = proc;
    // Python answers in order, so requests already written finish first if they fit in the grace period.
    child.stdin?.write(`${JSON.stringify({ id: this.nextId++, method: 'shutdown', params: {} })}\n`);
    child.stdin?.end();
    if (await exitsWithin(proc, this.shutdownTimeoutMs)) return;
    this.logger.warn('python worker did not exit after shutdown; sending SIGTERM', { pid: child.pid });
    child.kill('SIGTERM');
    if (await exitsWithin(proc, 1_000)) return;
    child.kill('SIGKILL');
    await proc.exited;
  }
}

async function exitsWithin(proc: Proc, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([proc.exited.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
