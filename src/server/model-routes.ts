/**
 * Model management (scope `admin`) and listings (scope `read`):
 *
 *   GET    /api/ml/models                      every model, its versions, active version and metadata summary
 *   GET    /api/ml/models/:name                every version with its full meta.json (validation metrics)
 *   POST   /api/ml/models                      register {name, source, activate?}
 *   POST   /api/ml/models/:name/promote        {version}
 *   POST   /api/ml/models/:name/rollback       back to the previously active version
 *   DELETE /api/ml/models/:name                ?force=true when it has an active version
 *   DELETE /api/ml/models/:name/versions/:v    ?force=true for the active version
 *
 * Whatever changes which version answers a name loads that version fully
 * first (files verified, backend started); if that fails the request fails
 * with the reason and the version serving before goes on serving.
 */

import type { FastifyInstance } from 'fastify';
import { describeError, IntegrityError, QuantflowError } from '../core/errors.js';
import { resolveFeatureSchema } from '../features/feature-sets.js';
import { MANIFEST_FILE, type ModelFiles } from '../models/model-files.js';
import type { ModelKind, ModelMeta } from '../models/model-meta.js';
import { latestVersion, versionsOf, withoutVersion } from '../registry/model-index.js';
import { summarizeMeta } from '../registry/model-metadata.js';
import { checkPythonScript } from '../registry/python-allow-list.js';
import { isModelName, parseVersion } from '../registry/registry-layout.js';
import { prepareVersion, readSourceDirectory } from '../registry/version-store.js';
import { ApiError } from './api-errors.js';
import { modelNotFound, type ServedModel, versionNotFound } from './model-pool.js';
import { deleteModelSchema, deleteVersionSchema, modelParamsSchema, promoteSchema, registerSchema } from './schemas.js';
import type { ServerContext } from './server-context.js';
import { assertUnchanged, resolveSourceDirectory } from './source-paths.js';

export interface RegisterBody {
  readonly name: string;
  readonly source: { readonly type: 'registry' | ModelKind; readonly ref?: string; readonly path?: string };
  readonly activate?: boolean;
}

function assertName(name: string, field: string): void {
  if (!isModelName(name)) {
    throw new ApiError(
      400,
      'INVALID_MODEL_NAME',
      `invalid model name '${name.slice(0, 100)}': lower-case letters, digits, '.', '_' and '-', starting with a letter or digit`,
      field,
    );
  }
}

function versionLabel(version: string | number, field: string): string {
  try {
    return parseVersion(String(version));
  } catch {
    throw new ApiError(
      400,
      'INVALID_VERSION',
      `invalid version '${String(version)}' (expected v1, v2, ... or 1, 2, ...)`,
      field,
    );
  }
}

function isForced(force: string | undefined): boolean {
  return force === 'true' || force === '1' || force === '';
}

/** A model's refusal as a 422 with our code, keeping the typed error's message. */
function refused(code: string, err: unknown, field: string | null): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError(422, code, describeError(err), field, { cause: err });
}

/** The registry's Python allow-list (the one `models register` applies too), as a 422 naming the source. */
async function checkPythonModel(meta: ModelMeta, dirs: readonly string[]): Promise<void> {
  try {
    await checkPythonScript(meta, dirs);
  } catch (err) {
    const code =
      err instanceof IntegrityError
        ? 'INTEGRITY_FAILED'
        : meta.python === undefined
          ? 'INVALID_MODEL'
          : 'SCRIPT_NOT_ALLOWED';
    throw new ApiError(422, code, describeError(err), 'source.path', { cause: err });
  }
}

export function registerModelRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { registry, pool } = ctx;

  const describeLoaded = (m: ServedModel) => ({
    ref: m.ref,
    kind: m.predictor.meta.kind,
    inputWidth: m.inputWidth,
    active: pool.activeModel(m.name) === m,
    inFlight: m.inFlight,
  });

  app.get('/api/ml/models', { config: { scope: 'read' }, handlerTimeout: ctx.limits.handlerTimeoutMs }, async () => {
    const models = await registry.list();
    return {
      defaultModel: ctx.defaultModel?.ref ?? null,
      models: models.map((m) => ({ ...m, served: pool.activeModel(m.name)?.ref ?? null })),
      loaded: pool.loaded().map(describeLoaded),
    };
  });

  app.get<{ Params: { name: string } }>(
    '/api/ml/models/:name',
    { schema: modelParamsSchema, config: { scope: 'read' }, handlerTimeout: ctx.limits.handlerTimeoutMs },
    async (request) => {
      const { name } = request.params;
      assertName(name, 'name');
      if ((await registry.readIndex(name)) === null) throw modelNotFound(name, 'name');
      const details = await registry.get(name);
      return { ...details, served: pool.activeModel(name)?.ref ?? null };
    },
  );

  app.post<{ Body: RegisterBody }>(
    '/api/ml/models',
    { schema: registerSchema, config: { scope: 'admin' }, handlerTimeout: ctx.limits.handlerTimeoutMs },
    async (request, reply) => {
      const { name, source, activate } = request.body;
      assertName(name, 'name');
      let files: ModelFiles;
      let where: string;
      if (source.type === 'registry') {
        if (source.ref === undefined || source.path !== undefined) {
          throw new ApiError(400, 'INVALID_SOURCE', "a registry source takes 'ref' (and no 'path')", 'source.ref');
        }
        const parsed = pool.parseRef(source.ref, 'source.ref');
        const index = await registry.readIndex(parsed.name);
        if (index === null) throw modelNotFound(parsed.name, 'source.ref');
        const sel = parsed.selector;
        const version =
          sel.kind === 'active' ? index.active : sel.kind === 'latest' ? latestVersion(index) : sel.version;
        if (version === null || index.versions[version] === undefined) {
          throw versionNotFound(parsed.name, version ?? sel.kind, 'source.ref');
        }
        try {
          files = (await registry.loadFiles(`${parsed.name}@${version}`)).files;
        } catch (err) {
          throw refused('INTEGRITY_FAILED', err, 'source.ref');
        }
        where = `${parsed.name}@${version}`;
      } else {
        if (source.path === undefined || source.ref !== undefined) {
          throw new ApiError(
            400,
            'INVALID_SOURCE',
            `a ${source.type} source takes 'path' (and no 'ref')`,
            'source.path',
          );
        }
        const dir = await resolveSourceDirectory(source.path, ctx.sourceRoots, 'source.path');
        try {
          files = await readSourceDirectory(dir);
        } catch (err) {
          throw err instanceof QuantflowError
            ? new ApiError(400, 'INVALID_MODEL_DIRECTORY', describeError(err), 'source.path', { cause: err })
            : err;
        }
        await assertUnchanged(dir, 'source.path');
        if (!files.has(MANIFEST_FILE)) {
          throw new ApiError(
            422,
            'MANIFEST_REQUIRED',
            `the model directory has no ${MANIFEST_FILE}: only models whose files can be verified are registered`,
            'source.path',
          );
        }
        where = dir;
      }

      let meta: ModelMeta;
      try {
        meta = prepareVersion(files, where).meta; // verifies every file against the manifest, parses meta.json
      } catch (err) {
        throw refused(err instanceof QuantflowError ? err.code : 'INVALID_MODEL', err, 'source');
      }
      if (source.type !== 'registry' && meta.kind !== source.type) {
        throw new ApiError(
          422,
          'KIND_MISMATCH',
          `source.type is '${source.type}' but the model's meta.json says '${meta.kind}'`,
          'source.type',
        );
      }
      try {
        resolveFeatureSchema(meta.featureSchema);
      } catch (err) {
        throw refused('UNKNOWN_FEATURE_SET', err, 'source');
      }
      if (meta.kind === 'python') await checkPythonModel(meta, ctx.pythonDirs);

      const result = await pool.withLock(name, async () => {
        const before = await registry.readIndex(name);
        const registered = await registry.register(name, files, { activate: false });
        let model: ServedModel;
        try {
          model = await pool.load(name, registered.version, 'source');
        } catch (err) {
          // Leave nothing behind: the version (or the model it created) goes again.
          try {
            if (before === null) await registry.delete(name, undefined, { force: true });
            else await registry.delete(name, registered.version, { force: true });
          } catch (cleanup) {
            ctx.log.error(
              { err: describeError(cleanup), ref: registered.ref },
              'could not remove a version that failed to load',
            );
          }
          throw err;
        }
        const makeActive = activate === true || registered.active;
        try {
          if (makeActive && !registered.active) await registry.promote(name, registered.version);
        } catch (err) {
          pool.keep(model);
          throw err;
        }
        if (makeActive) pool.setActive(name, model);
        else pool.keep(model);
        return {
          ...registered,
          active: makeActive,
          previous: before?.active ?? null,
          served: pool.activeModel(name)?.ref ?? null,
          metadata: summarizeMeta(meta),
        };
      });
      ctx.log.info({ ref: result.ref, active: result.active, key: request.keyLabel }, 'model registered');
      return reply.code(201).send(result);
    },
  );

  app.post<{ Params: { name: string }; Body: { version: string | number } }>(
    '/api/ml/models/:name/promote',
    { schema: promoteSchema, config: { scope: 'admin' }, handlerTimeout: ctx.limits.handlerTimeoutMs },
    async (request) => {
      const { name } = request.params;
      assertName(name, 'name');
      const label = versionLabel(request.body.version, 'version');
      const change = await pool.withLock(name, async () => {
        const index = await registry.readIndex(name);
        if (index === null) throw modelNotFound(name, 'name');
        if (index.versions[label] === undefined) throw versionNotFound(name, label, 'version');
        const model = await pool.load(name, label, 'version');
        try {
          const out = await registry.promote(name, label);
          pool.setActive(name, model);
          return { ...out, served: model.ref };
        } catch (err) {
          pool.keep(model);
          throw err;
        }
      });
      ctx.log.info({ name, active: change.active, previous: change.previous, key: request.keyLabel }, 'model promoted');
      return change;
    },
  );

  app.post<{ Params: { name: string } }>(
    '/api/ml/models/:name/rollback',
    { schema: modelParamsSchema, config: { scope: 'admin' }, handlerTimeout: ctx.limits.handlerTimeoutMs },
    async (request) => {
      const { name } = request.params;
      assertName(name, 'name');
      const change = await pool.withLock(name, async () => {
        const index = await registry.readIndex(name);
        if (index === null) throw modelNotFound(name, 'name');
        const target = index.history.at(-1);
        if (target === undefined) {
          throw new ApiError(
            409,
            'NO_HISTORY',
            `model '${name}' has no previously active version to roll back to`,
            'name',
          );
        }
        const model = await pool.load(name, target, 'name');
        try {
          const out = await registry.rollback(name);
          pool.setActive(name, model);
          return { ...out, served: model.ref };
        } catch (err) {
          pool.keep(model);
          throw err;
        }
      });
      ctx.log.info(
        { name, active: change.active, previous: change.previous, key: request.keyLabel },
        'model rolled back',
      );
      return change;
    },
  );

  app.delete<{ Params: { name: string }; Querystring: { force?: string } }>(
    '/api/ml/models/:name',
    { schema: deleteModelSchema, config: { scope: 'admin' }, handlerTimeout: ctx.limits.handlerTimeoutMs },
    async (request) => {
      const { name } = request.params;
      assertName(name, 'name');
      const force = isForced(request.query.force);
      const deleted = await pool.withLock(name, async () => {
        const index = await registry.readIndex(name);
        if (index === null) throw modelNotFound(name, 'name');
        if (ctx.defaultModel?.parsed.name === name) {
          throw new ApiError(
            409,
            'DEFAULT_MODEL',
            `model '${name}' is this server's default model; it cannot be deleted while the server runs`,
            'name',
          );
        }
        if (index.active !== null && !force) {
          throw new ApiError(
            409,
            'ACTIVE_VERSION',
            `model '${name}' has an active version (${index.active}); add ?force=true to delete it with all its versions`,
            'name',
          );
        }
        await registry.delete(name, undefined, { force: true });
        void pool.unload(name);
        return versionsOf(index);
      });
      ctx.log.info({ name, versions: deleted, key: request.keyLabel }, 'model deleted');
      return { deleted: name, versions: deleted };
    },
  );

  app.delete<{ Params: { name: string; v: string }; Querystring: { force?: string } }>(
    '/api/ml/models/:name/versions/:v',
    { schema: deleteVersionSchema, config: { scope: 'admin' }, handlerTimeout: ctx.limits.handlerTimeoutMs },
    async (request) => {
      const { name, v } = request.params;
      assertName(name, 'name');
      const label = versionLabel(v, 'v');
      const force = isForced(request.query.force);
      const result = await pool.withLock(name, async () => {
        const index = await registry.readIndex(name);
        if (index === null) throw modelNotFound(name, 'name');
        if (index.versions[label] === undefined) throw versionNotFound(name, label, 'v');
        const def = ctx.defaultModel?.parsed;
        if (def !== undefined && def.name === name && def.selector.kind === 'exact' && def.selector.version === label) {
          throw new ApiError(409, 'DEFAULT_MODEL', `${name}@${label} is this server's default model`, 'v');
        }
        const isActive = index.active === label;
        if (isActive && !force) {
          throw new ApiError(
            409,
            'ACTIVE_VERSION',
            `${name}@${label} is the active version: promote another version first, or add ?force=true (the previously active version takes over)`,
            'v',
          );
        }
        let fallback: ServedModel | undefined;
        const next = isActive ? withoutVersion(index, label, true).active : index.active;
        if (isActive) {
          if (next !== null) fallback = await pool.load(name, next, 'v');
          else if (def !== undefined && def.name === name) {
            throw new ApiError(
              409,
              'DEFAULT_MODEL',
              `deleting ${name}@${label} would leave this server's default model without an active version`,
              'v',
            );
          }
        }
        await registry.delete(name, label, { force });
        if (fallback !== undefined) pool.setActive(name, fallback);
        void pool.unload(name, label);
        return { deleted: `${name}@${label}`, active: next, served: pool.activeModel(name)?.ref ?? null };
      });
      ctx.log.info({ ...result, key: request.keyLabel }, 'model version deleted');
      return result;
    },
  );
}
