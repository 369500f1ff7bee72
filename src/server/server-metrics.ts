/**
 * Prometheus metrics of one server, in its own prom-client registry (several
 * servers in one process, as in tests, do not collide):
 *
 *   quantflow_http_requests_total{method,route,status}
 *   quantflow_http_request_duration_seconds{method,route,status}   histogram
 *   quantflow_predictions_total{model,input}                        rows scored (input: features|rows|candles)
 *   quantflow_prediction_cache_hits_total{model} / _misses_total{model}
 *   quantflow_models_loaded                                          gauge
 *   quantflow_model_loaded{model,kind,active}                        1 per loaded version
 *   quantflow_model_load_seconds{model}                              last load time
 *   quantflow_drift_events_total{model}                              rolling accuracy fell below the threshold
 *   quantflow_models_drifting                                        model versions (or pairs) in drift now
 *   plus the process's default metrics (CPU, resident memory, event loop lag) prefixed quantflow_.
 *
 * In a `serve --workers N` cluster the primary sums every worker's registry
 * (prom-client's AggregatorRegistry); gauges of loaded models then count
 * workers, and the last load time is the workers' maximum.
 *
 * `route` is the route pattern ('/api/ml/models/:name'), or 'unmatched' for
 * 404s, so random URLs cannot blow up the label space. Label children are
 * cached per combination: the hot path does one Map lookup per metric.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ServedModel } from './model-pool.js';

export type PredictionInput = 'features' | 'rows' | 'candles';

interface RequestChildren {
  readonly count: { inc(): void };
  readonly duration: { observe(v: number): void };
}

interface ModelChildren {
  readonly hits: { inc(n?: number): void };
  readonly misses: { inc(n?: number): void };
  readonly features: { inc(n?: number): void };
  readonly rows: { inc(n?: number): void };
  readonly candles: { inc(n?: number): void };
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly durations: Histogram<'method' | 'route' | 'status'>;
  private readonly predictions: Counter<'model' | 'input'>;
  private readonly cacheHits: Counter<'model'>;
  private readonly cacheMisses: Counter<'model'>;
  private readonly loadSeconds: Gauge<'model'>;
  private readonly driftEvents: Counter<'model'>;
  private readonly requestChildren = new Map<string, RequestChildren>();
  private readonly modelChildren = new Map<string, ModelChildren>();

  constructor(
    loadedModels: () => readonly ServedModel[],
    activeOf: (name: string) => ServedModel | undefined,
    drifting: () => number = () => 0,
  ) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'quantflow_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.durations = new Histogram({
      name: 'quantflow_http_request_duration_seconds',
      help: 'Time from receiving a request to finishing its response',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.predictions = new Counter({
      name: 'quantflow_predictions_total',
      help: 'Rows scored, by model version and input kind (features, rows, candles)',
      labelNames: ['model', 'input'],
      registers,
    });
    this.cacheHits = new Counter({
      name: 'quantflow_prediction_cache_hits_total',
      help: 'Single-row predictions answered from the LRU cache of repeated inputs',
      labelNames: ['model'],
      registers,
    });
    this.cacheMisses = new Counter({
      name: 'quantflow_prediction_cache_misses_total',
      help: 'Single-row predictions the model had to compute',
      labelNames: ['model'],
      registers,
    });
    this.loadSeconds = new Gauge({
      name: 'quantflow_model_load_seconds',
      help: 'Time the last load of a model version took (verify, parse, start the backend)',
      labelNames: ['model'],
      registers,
      aggregator: 'max',
    });
    this.driftEvents = new Counter({
      name: 'quantflow_drift_events_total',
      help: "Times a model version's rolling accuracy fell below the drift threshold (tracker drift options)",
      labelNames: ['model'],
      registers,
    });
    new Gauge({
      name: 'quantflow_models_drifting',
      help: 'Model versions (or model-symbol pairs) whose rolling accuracy is below the drift threshold now',
      registers,
      collect() {
        this.set(drifting());
      },
    });
    new Gauge({
      name: 'quantflow_models_loaded',
      help: 'Model versions loaded in memory',
      registers,
      collect() {
        this.set(loadedModels().length);
      },
    });
    new Gauge({
      name: 'quantflow_model_loaded',
      help: 'One series per loaded model version; active="true" when it answers its bare model name',
      labelNames: ['model', 'kind', 'active'],
      registers,
      collect() {
        this.reset();
        for (const m of loadedModels()) {
          this.set({ model: m.ref, kind: m.predictor.meta.kind, active: String(activeOf(m.name) === m) }, 1);
        }
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'quantflow_' });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let c = this.requestChildren.get(key);
    if (c === undefined) {
      const labels = { method, route, status: String(status) };
      c = { count: this.requests.labels(labels), duration: this.durations.labels(labels) };
      if (this.requestChildren.size < 10_000) this.requestChildren.set(key, c);
    }
    c.count.inc();
    c.duration.observe(seconds);
  }

  private model(ref: string): ModelChildren {
    let c = this.modelChildren.get(ref);
    if (c === undefined) {
      if (this.modelChildren.size >= 1000) this.modelChildren.clear(); // a cache of label children, bounded
      c = {
        hits: this.cacheHits.labels({ model: ref }),
        misses: this.cacheMisses.labels({ model: ref }),
        features: this.predictions.labels({ model: ref, input: 'features' }),
        rows: this.predictions.labels({ model: ref, input: 'rows' }),
        candles: this.predictions.labels({ model: ref, input: 'candles' }),
      };
      this.modelChildren.set(ref, c);
    }
    return c;
  }

  predicted(ref: string, input: PredictionInput, rows: number): void {
    this.model(ref)[input].inc(rows);
  }

  cache(ref: string, hit: boolean): void {
    const c = this.model(ref);
    if (hit) c.hits.inc();
    else c.misses.inc();
  }

  drift(ref: string): void {
    this.driftEvents.inc({ model: ref });
  }

  modelLoaded(ref: string, ms: number): void {
    this.loadSeconds.set({ model: ref }, ms / 1000);
  }
}
