/**
 * Operations routes:
 *   GET /health       public: status, auth mode, default model, loaded models, uptime, process
 *                     (pid, cluster instance) and memory (resident bytes against the budget)
 *   GET /metrics      scope `read`: Prometheus text format (see server-metrics.ts); a
 *                     cluster's workers answer with every worker's metrics summed
 *   GET /api/ml/stats scope `read`: tracker statistics, overall (or filtered by
 *                     ?symbol= and ?model=), per symbol and per model version; ?window=N
 *                     scores only the last N resolved predictions of each selection
 */
import type { FastifyInstance } from 'fastify';
import { healthSchema, statsSchema } from './schemas.js';
import type { ServerContext } from './server-context.js';

export function registerOpsRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { pool, tracker, metrics } = ctx;

  app.get('/health', { schema: healthSchema }, async () => {
    const loaded = pool.loaded();
    const memory = process.memoryUsage();
    return {
      status: 'ok',
      uptimeSeconds: Math.round((Date.now() - ctx.startedAt.getTime()) / 100) / 10,
      startedAt: ctx.startedAt.toISOString(),
      auth: ctx.auth,
      defaultModel:
        ctx.defaultModel === null ? null : (pool.peek(ctx.defaultModel.parsed)?.ref ?? ctx.defaultModel.ref),
      models: { loaded: loaded.length, refs: loaded.map((m) => m.ref) },
      process: { pid: process.pid, instance: ctx.instance },
      memory: {
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        budgetBytes: ctx.memoryBudget,
        overBudget: ctx.memoryBudget !== null && memory.rss > ctx.memoryBudget,
      },
      tracker: { predictions: tracker.size },
    };
  });

  app.get('/metrics', { config: { scope: 'read' } }, async (_request, reply) => {
    const text = await ctx.renderMetrics();
    return reply.type(metrics.contentType).send(text);
  });

  app.get<{ Querystring: { symbol?: string; model?: string; window?: string } }>(
    '/api/ml/stats',
    { schema: statsSchema, config: { scope: 'read' } },
    async (request) => {
      const { symbol, model } = request.query;
      const window = request.query.window === undefined ? undefined : Number(request.query.window);
      const opts = window === undefined ? {} : { window };
      return {
        filter: { symbol: symbol ?? null, model: model ?? null, window: window ?? null },
        overall: tracker.stats({
          ...(symbol !== undefined ? { symbol } : {}),
          ...(model !== undefined ? { modelVersion: model } : {}),
          ...opts,
        }),
        bySymbol: Object.fromEntries(tracker.statsBy('symbol', opts)),
        byModel: Object.fromEntries(tracker.statsBy('modelVersion', opts)),
        drift: tracker.driftStatus(),
        tracker: { file: tracker.file !== null, predictions: tracker.size, ignoredCandles: tracker.ignoredCandles },
      };
    },
  );
}
