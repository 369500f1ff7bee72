/**
 * `serve --workers N`: N server processes behind one port, with Node's
 * cluster module (the primary accepts connections and hands them to the
 * workers in turn). Each worker is a whole server: its own models, Python
 * workers, tracker and metrics; they agree on the active version of each
 * model through the registry (registry-watcher.ts).
 *
 * The primary only supervises:
 * - it starts the workers and reports the address once all are listening; a
 *   worker that fails at start stops the whole cluster (its error is printed);
 * - a worker that dies later is replaced (at most 5 times a minute);
 * - SIGHUP restarts the workers one at a time (rolling): the replacement is
 *   listening before the old one is asked to stop, and the old one finishes
 *   its requests in flight, so the port never stops answering;
 * - SIGINT / SIGTERM stop every worker gracefully (forced after the deadline);
 * - `/metrics` on any worker answers the sum over all workers (prom-client's
 *   AggregatorRegistry, asked through the primary).
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

const READY = 'quantflow:ready';
const STOP = 'quantflow:stop';
const METRICS = 'quantflow:metrics';
const METRICS_ANSWER = 'quantflow:metrics-answer';
const MAX_RESTARTS_PER_MINUTE = 5;

interface Message {
  readonly type?: string;
  readonly id?: number;
  readonly url?: string;
  readonly text?: string;
  readonly error?: string;
}

export interface ClusterLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface PrimaryOptions {
  readonly workers: number;
  readonly log: ClusterLog;
  /** Called once every worker listens, with the URL the first reported. */
  readonly onListening: (url: string) => void;
  /** How long a worker may take to finish its requests when stopped before it is killed (default 15 s). */
  readonly stopDeadlineMs?: number;
}

export const isClusterWorker = (): boolean => cluster.isWorker;

/** This worker's number in its cluster (1, 2, ...; replacements get new ones), or undefined in the primary. */
export const clusterWorkerId = (): number | undefined => cluster.worker?.id;

/**
 * Runs the primary: forks and supervises the workers until SIGINT or SIGTERM
 * has stopped them all. Rejects when a worker fails to start.
 */
export function runPrimary(options: PrimaryOptions): Promise<void> {
  const { log } = options;
  const deadline = options.stopDeadlineMs ?? 15_000;
  const aggregator = new AggregatorRegistry();
  const live = new Set<Worker>();
  const restarts: number[] = [];
  const urls = new Map<number, string>();
  /** Workers asked to stop by a rolling restart: their exit is expected. */
  const retiring = new Set<Worker>();
  let stopping = false;
  let started = false;

  return new Promise<void>((resolve, reject) => {
    const fork = (): Promise<Worker> =>
      new Promise((ready, failed) => {
        const worker = cluster.fork();
        live.add(worker);
        let isReady = false;
        worker.on('message', (m: Message) => {
          if (m?.type === READY) {
            isReady = true;
            ready(worker);
            if (m.url !== undefined) urls.set(worker.id, m.url);
          } else if (m?.type === METRICS) {
            aggregator.clusterMetrics().then(
              (text) => worker.send({ type: METRICS_ANSWER, id: m.id, text }),
              (err: unknown) => worker.send({ type: METRICS_ANSWER, id: m.id, error: String(err) }),
            );
          }
        });
        worker.on('exit', (code, signal) => {
          live.delete(worker);
          if (!isReady) {
            failed(new Error(`worker ${worker.id} exited before listening (code ${code}, signal ${signal})`));
            return;
          }
          if (stopping || retiring.has(worker)) {
            retiring.delete(worker);
            if (stopping && live.size === 0) resolve();
            return;
          }
          log.error('worker died; starting a replacement', {
            worker: worker.id,
            pid: worker.process.pid,
            code,
            signal,
          });
          const now = Date.now();
          restarts.push(now);
          while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
          if (restarts.length > MAX_RESTARTS_PER_MINUTE) {
            log.error('workers keep dying: stopping the cluster', { restarts: restarts.length });
            void stopAll().then(() => reject(new Error('workers keep dying (see the log)')));
            return;
          }
          fork().catch((err: unknown) => log.error('replacement worker failed to start', { err: String(err) }));
        });
      });

    const stopOne = (worker: Worker): Promise<void> =>
      new Promise((done) => {
        if (worker.isDead()) return done();
        const timer = setTimeout(() => {
          log.warn('worker did not stop in time: killing it', { worker: worker.id, ms: deadline });
          worker.process.kill('SIGKILL');
        }, deadline);
        worker.once('exit', () => {
          clearTimeout(timer);
          done();
        });
        worker.send({ type: STOP });
      });

    const stopAll = async (): Promise<void> => {
      stopping = true;
      await Promise.all([...live].map(stopOne));
    };

    let rolling = false;
    const rollingRestart = async () => {
      if (rolling || stopping) return;
      rolling = true;
      log.info('rolling restart: one worker at a time', { workers: live.size });
      try {
        for (const old of [...live]) {
          if (stopping) break;
          const fresh = await fork();
          log.info('replacement listening; stopping the old worker', { old: old.id, new: fresh.id });
          retiring.add(old);
          await stopOne(old);
        }
        log.info('rolling restart done', { workers: live.size });
      } catch (err) {
        log.error('rolling restart failed: the workers left keep serving', { err: String(err) });
      } finally {
        rolling = false;
      }
    };

    const onStop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      log.info('signal received: stopping the workers', { signal });
      void stopAll().then(() => resolve());
    };
    process.on('SIGINT', onStop);
    process.on('SIGTERM', onStop);
    process.on('SIGHUP', () => void rollingRestart());

    Promise.all(Array.from({ length: options.workers }, fork)).then(
      () => {
        started = true;
        log.info('cluster listening', { workers: live.size, url: urls.values().next().value ?? null });
        options.onListening(urls.values().next().value ?? '');
      },
      (err: unknown) => {
        if (started) return;
        log.error('a worker failed to start: stopping the cluster', { err: String(err) });
        void stopAll().then(() => reject(err));
      },
    );
  });
}

export interface WorkerHooks {
  /** /metrics text for every worker of the cluster, through the primary. */
  readonly clusterMetrics: () => Promise<string>;
  /** Tells the primary this worker is listening. */
  ready(url: string): void;
}

/**
 * The worker's side: exposes `registry` to the primary's aggregator, and
 * calls `stop` when the primary asks (rolling restart, shutdown) or goes away.
 */
export function joinCluster(registry: Registry, stop: () => Promise<void>): WorkerHooks {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry(); // constructing one is what makes prom-client answer the primary's requests here
  const pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();
  let nextId = 1;
  let stopped = false;
  const stopOnce = () => {
    if (stopped) return;
    stopped = true;
    stop().finally(() => process.exit(0));
  };
  process.on('message', (m: Message) => {
    if (m?.type === STOP) stopOnce();
    else if (m?.type === METRICS_ANSWER && m.id !== undefined) {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.error !== undefined) p?.reject(new Error(m.error));
      else p?.resolve(m.text ?? '');
    }
  });
  process.on('disconnect', stopOnce); // the primary is gone
  process.on('SIGTERM', stopOnce); // a worker stopped on its own is replaced by the primary
  // A terminal's Ctrl-C reaches every process of the group: the primary decides, the workers wait to be told.
  process.on('SIGINT', () => {});
  return {
    clusterMetrics: () =>
      new Promise<string>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        process.send?.({ type: METRICS, id });
        setTimeout(() => {
          if (pending.delete(id)) reject(new Error('the cluster primary did not answer with the metrics in 10 s'));
        }, 10_000).unref();
      }),
    ready: (url) => process.send?.({ type: READY, url }),
  };
}
