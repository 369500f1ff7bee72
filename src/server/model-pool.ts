import { describeError, QuantflowError } from '../core/errors.js';
import type { Predictor } from '../models/predictor.js';
import { type LoadPredictorOptions, loadPredictor } from '../registry/load-predictor.js';
import { latestVersion } from '../registry/model-index.js';
import type { ModelRegistry } from '../registry/model-registry.js';
import { type ModelRef, parseModelRef } from '../registry/registry-layout.js';
import { ApiError } from './api-errors.js';

/** One loaded registry version and the requests using it. */
export class ServedModel {
  readonly ref: string;
  /** `JSON.stringify(ref)`, ready to splice into responses. */
  readonly refJson: string;
  private leases = 0;
  private retiring = false;
  private disposal: Promise<void> | undefined;
  private disposed!: () => void;
  private readonly whenDisposed: Promise<void>;

  constructor(
    readonly name: string,
    readonly version: string,
    readonly predictor: Predictor,
    private readonly onDisposeError: (model: ServedModel, err: unknown) => void,
  ) {
    this.ref = `${name}@${version}`;
    this.refJson = JSON.stringify(this.ref);
    this.whenDisposed = new Promise((resolve) => {
      this.disposed = resolve;
    });
  }

  get inputWidth(): number {
    return this.predictor.inputWidth;
  }

  get inFlight(): number {
    return this.leases;
  }

  get retired(): boolean {
    return this.retiring;
  }

  acquire(): void {
    this.leases++;
  }

  release(): void {
    this.leases--;
    if (this.leases === 0 && this.retiring) void this.disposeNow();
  }

  /** Takes the model out of service; it is disposed when its last request finishes. Resolves then. */
  retire(): Promise<void> {
    this.retiring = true;
    if (this.leases === 0) void this.disposeNow();
    return this.whenDisposed;
  }

  private disposeNow(): Promise<void> {
    if (this.disposal === undefined) {
      this.disposal = this.predictor
        .dispose()
        .catch((err: unknown) => this.onDisposeError(this, err))
        .finally(() => this.disposed());
    }
    return this.disposal;
  }
}

export interface ModelPoolOptions {
  readonly registry: ModelRegistry;
  readonly load: LoadPredictorOptions;
  /** Non-active versions kept loaded (default 8). */
  readonly maxPinned?: number;
  readonly onLoad?: (model: ServedModel, ms: number) => void;
  readonly onDisposeError?: (model: ServedModel, err: unknown) => void;
}

export function modelNotFound(name: string, field: string | null = 'model'): ApiError {
  return new ApiError(404, 'MODEL_NOT_FOUND', `no model '${name}' in the registry`, field);
}

export function versionNotFound(name: string, version: string, field: string | null = 'model'): ApiError {
  return new ApiError(404, 'VERSION_NOT_FOUND', `model '${name}' has no version ${version}`, field);
}

export class ModelPool {
  private readonly registry: ModelRegistry;
  private readonly loadOptions: LoadPredictorOptions;
  private readonly maxPinned: number;
  private readonly active = new Map<string, ServedModel>();
  /** Loaded versions that are not active for their name, least recently used first. */
  private readonly pinned = new Map<string, ServedModel>();
  private readonly loading = new Map<string, Promise<ServedModel>>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Parsed references of recent requests (bounded), so the hot path skips parsing. */
  private readonly refs = new Map<string, ModelRef>();
  private readonly onLoad: ((model: ServedModel, ms: number) => void) | undefined;
  private readonly onDisposeError: (model: ServedModel, err: unknown) => void;
  private closed = false;

  constructor(options: ModelPoolOptions) {
    this.registry = options.registry;
    this.loadOptions = options.load;
    this.maxPinned = options.maxPinned ?? 8;
    this.onLoad = options.onLoad;
    this.onDisposeError = options.onDisposeError ?? (() => {});
  }

  /** Every loaded model (active ones first). */
  loaded(): ServedModel[] {
    return [...this.active.values(), ...this.pinned.values()];
  }

  /** The models answering bare names. */
  activeModels(): ServedModel[] {
    return [...this.active.values()];
  }

  /** The model active for `name` in this server, if loaded. */
  activeModel(name: string): ServedModel | undefined {
    return this.active.get(name);
  }

  /** Parses a request's model reference; 400 naming `field` when malformed. */
  parseRef(ref: string, field = 'model'): ModelRef {
    let parsed = this.refs.get(ref);
    if (parsed !== undefined) return parsed;
    try {
      parsed = parseModelRef(ref);
    } catch (err) {
      throw new ApiError(
        400,
        'INVALID_MODEL_REF',
        `invalid model reference '${ref.length > 120 ? `${ref.slice(0, 120)}...` : ref}': expected NAME, NAME@active, NAME@latest or NAME@vN`,
        field,
        { cause: err },
      );
    }
    if (this.refs.size >= 1000) this.refs.clear();
    this.refs.set(ref, parsed);
    return parsed;
  }

  /** The loaded model answering `ref` without waiting, or undefined when it must be loaded (or looked up). */
  peek(ref: ModelRef): ServedModel | undefined {
    const { name, selector } = ref;
    if (selector.kind === 'active') return this.active.get(name);
    if (selector.kind === 'exact') {
      const a = this.active.get(name);
      if (a !== undefined && a.version === selector.version) return a;
      return this.pinned.get(`${name}@${selector.version}`);
    }
    return undefined;
  }

  /**
   * The loaded model answering `ref` with a lease taken (release it when
   * done), or undefined when it must first be loaded. Synchronous: nothing can
   * retire the model between the lookup and the lease.
   */
  tryLease(ref: ModelRef): ServedModel | undefined {
    const model = this.peek(ref);
    if (model === undefined || model.retired) return undefined;
    if (ref.selector.kind === 'exact') this.touch(model);
    model.acquire();
    return model;
  }

  /** As `tryLease`, loading the model when needed (404 unknown, 422 cannot load). */
  async lease(ref: ModelRef, field = 'model'): Promise<ServedModel> {
    for (;;) {
      const model = await this.resolve(ref, field);
      // Retired while we were waiting (e.g. a promote swapped it out): look again.
      if (!model.retired) {
        model.acquire();
        return model;
      }
    }
  }

  /** The model answering `ref`, loading it when needed. 404 for unknown models and versions, 422 when it cannot load. */
  async resolve(ref: ModelRef, field = 'model'): Promise<ServedModel> {
    this.assertOpen();
    const ready = this.peek(ref);
    if (ready !== undefined) {
      if (ref.selector.kind === 'exact') this.touch(ready);
      return ready;
    }
    const { name, selector } = ref;
    if (selector.kind === 'active') {
      return this.withLock(name, async () => {
        const again = this.active.get(name);
        if (again !== undefined) return again;
        const index = await this.registry.readIndex(name);
        if (index === null) throw modelNotFound(name, field);
        if (index.active === null) {
          throw new ApiError(409, 'NO_ACTIVE_VERSION', `model '${name}' has no active version; promote one`, field);
        }
        const model = await this.load(name, index.active, field);
        this.setActive(name, model);
        return model;
      });
    }
    const index = await this.registry.readIndex(name);
    if (index === null) throw modelNotFound(name, field);
    const version = selector.kind === 'latest' ? latestVersion(index) : selector.version;
    if (version === null) throw versionNotFound(name, 'latest', field);
    if (index.versions[version] === undefined) throw versionNotFound(name, version, field);
    const model = await this.load(name, version, field);
    if (this.active.get(name) !== model && !this.pinned.has(model.ref)) this.pin(model);
    return model;
  }

  /**
   * The loaded model of `name@version`, loading it fully (files verified,
   * backend started) if needed. Concurrent calls share one load. A failure is
   * a 422 naming the reason; nothing the pool holds changes.
   */
  async load(name: string, version: string, field: string | null = 'model'): Promise<ServedModel> {
    this.assertOpen();
    const ref = `${name}@${version}`;
    const a = this.active.get(name);
    if (a !== undefined && a.version === version) return a;
    const p = this.pinned.get(ref);
    if (p !== undefined) return p;
    let pending = this.loading.get(ref);
    if (pending === undefined) {
      pending = this.loadFresh(name, version, field).finally(() => this.loading.delete(ref));
      this.loading.set(ref, pending);
    }
    return pending;
  }

  /**
   * Makes the loaded `model` the one answering `name`. The previous one is
   * kept as a pinned version (so 'name@vOld' still answers without a reload)
   * and may be evicted later.
   */
  setActive(name: string, model: ServedModel): void {
    const previous = this.active.get(name);
    if (previous === model) return;
    this.pinned.delete(model.ref);
    this.active.set(name, model);
    if (previous !== undefined) this.pin(previous);
  }

  /** Keeps a model returned by `load` loaded as a non-active version (evicted when least recently used). */
  keep(model: ServedModel): void {
    if (this.active.get(model.name) !== model) this.pin(model);
  }

  /** Takes every loaded version of `name` (or one version) out of service. */
  unload(name: string, version?: string): Promise<void> {
    const out: Array<Promise<void>> = [];
    const a = this.active.get(name);
    if (a !== undefined && (version === undefined || a.version === version)) {
      this.active.delete(name);
      out.push(a.retire());
    }
    for (const [ref, model] of this.pinned) {
      if (model.name === name && (version === undefined || model.version === version)) {
        this.pinned.delete(ref);
        out.push(model.retire());
      }
    }
    return Promise.all(out).then(() => undefined);
  }

  /** Runs `fn` holding the lock of `name` (changes to one model name happen one at a time). */
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(name) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(name, tail);
    void tail.then(() => {
      if (this.locks.get(name) === tail) this.locks.delete(name);
    });
    return run;
  }

  /** Refuses new loads and disposes every model once its requests have finished. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.loading.values()]);
    const all = this.loaded();
    this.active.clear();
    this.pinned.clear();
    await Promise.all(all.map((m) => m.retire()));
  }

  private async loadFresh(name: string, version: string, field: string | null): Promise<ServedModel> {
    const started = performance.now();
    let predictor: Predictor;
    try {
      predictor = await loadPredictor(this.registry, `${name}@${version}`, this.loadOptions);
    } catch (err) {
      const status = err instanceof QuantflowError ? 422 : 500;
      throw new ApiError(status, 'MODEL_LOAD_FAILED', `cannot load ${name}@${version}: ${describeError(err)}`, field, {
        cause: err,
      });
    }
    const model = new ServedModel(name, version, predictor, this.onDisposeError);
    if (this.closed) {
      await model.retire();
      throw new ApiError(503, 'SHUTTING_DOWN', 'the server is shutting down');
    }
    this.onLoad?.(model, performance.now() - started);
    return model;
  }

  private pin(model: ServedModel): void {
    this.pinned.delete(model.ref);
    this.pinned.set(model.ref, model);
    while (this.pinned.size > this.maxPinned) {
      const [oldestRef, oldest] = this.pinned.entries().next().value as [string, ServedModel];
      this.pinned.delete(oldestRef);
      void oldest.retire();
    }
  }

  private touch(model: ServedModel): void {
    if (this.pinned.get(model.ref) === model) {
      this.pinned.delete(model.ref);
      this.pinned.set(model.ref, model);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new ApiError(503, 'SHUTTING_DOWN', 'the server is shutting down');
  }
}
