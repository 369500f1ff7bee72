/**
 * Keeps a server's models in step with the registry when something else
 * changes it: another worker of a `serve --workers N` cluster, another server
 * on the same registry, or `quantflow models promote | rollback | delete`.
 * Every `intervalMs` it reads the index of each model the server has active;
 * when the registry's active version differs, that version is loaded fully
 * (files verified, backend started) and swapped in, exactly as the promote
 * route does, so every process answers the registry's active version within
 * about one interval plus a load. A version that cannot be loaded is reported
 * once and the version serving before goes on serving. Loaded versions the
 * index no longer lists (deleted) are unloaded.
 */
import type { ModelRegistry } from '../registry/model-registry.js';
import type { ModelPool } from './model-pool.js';

export interface RegistryWatcherOptions {
  /** 0 = never check. */
  readonly intervalMs: number;
  readonly onSwitch?: (name: string, from: string, to: string | null) => void;
  readonly onError?: (name: string, err: unknown) => void;
}

export class RegistryWatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** name -> version that failed to load: not retried until the index names another. */
  private readonly failed = new Map<string, string>();
  /** name -> the last problem reported, so a lasting one is logged once, not every interval. */
  private readonly reported = new Map<string, string>();

  constructor(
    private readonly registry: ModelRegistry,
    private readonly pool: ModelPool,
    private readonly options: RegistryWatcherOptions,
  ) {}

  start(): void {
    if (this.options.intervalMs <= 0 || this.timer !== undefined) return;
    this.timer = setInterval(() => {
      this.running ??= this.check().finally(() => {
        this.running = undefined;
      });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass over the served models (also called by tests and after a change made elsewhere). */
  async check(): Promise<void> {
    for (const served of this.pool.activeModels()) {
      const name = served.name;
      try {
        await this.pool.withLock(name, async () => {
          const current = this.pool.activeModel(name);
          if (current === undefined) return;
          const index = await this.registry.readIndex(name);
          for (const m of this.pool.loaded()) {
            if (m.name === name && index?.versions[m.version] === undefined) void this.pool.unload(name, m.version);
          }
          const wanted = index?.active ?? null;
          if (wanted === current.version) {
            this.failed.delete(name);
            this.reported.delete(name);
            return;
          }
          if (wanted === null) {
            this.options.onSwitch?.(name, current.ref, null);
            return;
          }
          if (this.failed.get(name) === wanted) return;
          try {
            this.pool.setActive(name, await this.pool.load(name, wanted, null));
            this.failed.delete(name);
            this.options.onSwitch?.(name, current.ref, `${name}@${wanted}`);
          } catch (err) {
            this.failed.set(name, wanted);
            throw err;
          }
        });
      } catch (err) {
        const text = String((err as Error)?.message ?? err);
        if (this.reported.get(name) !== text) {
          this.reported.set(name, text);
          this.options.onError?.(name, err);
        }
      }
    }
  }
}
