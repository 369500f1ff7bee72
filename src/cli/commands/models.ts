/**
 * `quantflow models ...`: the model registry from the command line.
 *
 *   models list | show NAME | register NAME DIR | promote NAME VERSION | rollback NAME
 *   models verify [NAME] [--fix] | delete NAME [VERSION] [--force] | keygen
 *
 * Every registry subcommand takes --registry DIR (default $QUANTFLOW_REGISTRY
 * or .quantflow/registry), --key-env NAME (default QUANTFLOW_REGISTRY_KEY) and
 * --json for machine-readable output. Signing keys come from
 * QUANTFLOW_REGISTRY_SIGNING_KEY (writers) and QUANTFLOW_REGISTRY_VERIFY_KEY (readers).
 */
import type { Command } from 'commander';
import { IntegrityError } from '../../core/errors.js';
import { BUNDLED_PYTHON_DIR } from '../../models/python-model.js';
import {
  DEFAULT_KEY_ENV,
  type ModelDetails,
  type ModelListing,
  ModelRegistry,
  type RegistryOptions,
  type VerifyReport,
} from '../../registry/index.js';
import { checkPythonScript } from '../../registry/python-allow-list.js';
import { generateSigningKeys, SIGNING_KEY_ENV, VERIFY_KEY_ENV } from '../../registry/registry-signing.js';
import { prepareVersion, readSourceDirectory } from '../../registry/version-store.js';
import { action } from '../action.js';
import { registryOptionHelp, registryRoot } from '../registry-option.js';
import { textTable } from '../text-table.js';
import { registerModelsImport } from './models-import.js';

interface CommonOptions {
  registry?: string;
  keyEnv?: string;
  json?: boolean;
}

export function register(program: Command): void {
  const models = program
    .command('models')
    .description('manage the versioned model registry (register, list, promote, roll back, verify, delete)');

  common(models.command('list').description('list models with their versions and active version')).action(
    action(async (opts: CommonOptions) => {
      const registry = await openRegistry(opts);
      const listing = await registry.list();
      if (opts.json) return printJson({ root: registry.root, encrypted: registry.encrypted, models: listing });
      if (listing.length === 0) return print(`no models in ${registry.root}`);
      print(renderList(listing));
    }),
  );

  common(models.command('show').argument('<name>').description("show a model's versions and their metadata")).action(
    action(async (name: string, opts: CommonOptions) => {
      const details = await (await openRegistry(opts)).get(name);
      if (opts.json) return printJson(details);
      print(renderDetails(details));
    }),
  );

  common(
    models
      .command('register')
      .argument('<name>', 'model name: lower-case letters, digits, ".", "_", "-"')
      .argument('<dir>', 'model directory (meta.json and model files; manifest.json optional)')
      .option('--activate', 'make the new version active (the first version of a name always is)')
      .option('--encrypt', `create the registry encrypted (key from --key-env, default ${DEFAULT_KEY_ENV})`)
      .option('--sign', `create the registry signed (Ed25519 key from ${SIGNING_KEY_ENV}; see models keygen)`)
      .option(
        '--python-dir <dir...>',
        "directories a Python model's script may run from, as for quantflow serve (default: the bundled scripts' directory)",
      )
      .description('store a model directory as the next version of NAME'),
  ).action(
    action(
      async (
        name: string,
        dir: string,
        opts: CommonOptions & { activate?: boolean; encrypt?: boolean; sign?: boolean; pythonDir?: string[] },
      ) => {
        const files = await readSourceDirectory(dir);
        const { meta } = prepareVersion(files, dir);
        // The server's allow-list: a model it would refuse to run is not registered.
        if (meta.kind === 'python') await checkPythonScript(meta, opts.pythonDir ?? [BUNDLED_PYTHON_DIR]);
        const registry = await openRegistry(opts, {
          create: true,
          ...(opts.encrypt ? { encrypt: true } : {}),
          ...(opts.sign ? { sign: true } : {}),
        });
        const v = await registry.register(name, files, { activate: opts.activate === true });
        if (opts.json) return printJson(v);
        const how = v.encrypted ? ', encrypted' : '';
        const state = v.active ? 'active' : `not active; activate with: quantflow models promote ${name} ${v.version}`;
        print(`registered ${v.ref} (${v.files} files, ${formatBytes(v.bytes)}${how}) - ${state}`);
      },
    ),
  );

  models
    .command('keygen')
    .option('--json', 'machine-readable JSON output')
    .description(
      'create an Ed25519 key pair for a signed registry (the signing key stays with whoever registers models)',
    )
    .action(
      action(async (opts: { json?: boolean }) => {
        const { signingKey, verifyKey } = generateSigningKeys();
        if (opts.json) return printJson({ signingKey, verifyKey });
        print(`${SIGNING_KEY_ENV}=${signingKey}`);
        print(`${VERIFY_KEY_ENV}=${verifyKey}`);
      }),
    );

  common(
    models
      .command('promote')
      .argument('<name>')
      .argument('<version>', 'v3 or 3')
      .description('make VERSION the active version of NAME'),
  ).action(
    action(async (name: string, version: string, opts: CommonOptions) => {
      const change = await (await openRegistry(opts)).promote(name, version);
      if (opts.json) return printJson(change);
      const was = change.previous !== null && change.previous !== change.active ? ` (was ${change.previous})` : '';
      print(`${name}: active version is ${change.active}${was}`);
    }),
  );

  common(models.command('rollback').argument('<name>').description('go back to the previously active version')).action(
    action(async (name: string, opts: CommonOptions) => {
      const change = await (await openRegistry(opts)).rollback(name);
      if (opts.json) return printJson(change);
      print(`${name}: rolled back to ${change.active} (from ${change.previous})`);
    }),
  );

  common(
    models
      .command('verify')
      .argument('[name]')
      .option(
        '--fix',
        'remove leftovers of interrupted saves and deletes, incl. version directories the index does not list',
      )
      .description('check every stored file against its checksums (and decrypt when encrypted)'),
  ).action(
    action(async (name: string | undefined, opts: CommonOptions & { fix?: boolean }) => {
      const report = await (await openRegistry(opts)).verify(name, { fix: opts.fix === true });
      if (opts.json) printJson(report);
      else print(renderVerify(report));
      const failed = report.models.reduce((n, m) => n + m.problems.length + m.versions.filter((v) => !v.ok).length, 0);
      if (!report.ok) throw new IntegrityError(`${failed} problem(s) found`, { file: report.root });
    }),
  );

  common(
    models
      .command('delete')
      .argument('<name>')
      .argument('[version]', 'delete only this version (v3 or 3)')
      .option('--force', 'allow deleting the active version, or a whole model')
      .description('delete one version of a model, or the whole model'),
  ).action(
    action(async (name: string, version: string | undefined, opts: CommonOptions & { force?: boolean }) => {
      const registry = await openRegistry(opts);
      await registry.delete(name, version, { force: opts.force === true });
      const what =
        version === undefined ? `model ${name}` : `${name}@${version.startsWith('v') ? version : `v${version}`}`;
      if (opts.json) return printJson({ deleted: what });
      print(`deleted ${what}`);
    }),
  );
  registerModelsImport(models);
}

function common(cmd: Command): Command {
  return cmd
    .option('--registry <dir>', registryOptionHelp('registry directory'))
    .option('--key-env <name>', `environment variable holding the encryption key (default ${DEFAULT_KEY_ENV})`)
    .option('--json', 'machine-readable JSON output');
}

async function openRegistry(opts: CommonOptions, extra: RegistryOptions = { create: false }): Promise<ModelRegistry> {
  return ModelRegistry.open(registryRoot(opts.registry), {
    ...extra,
    ...(opts.keyEnv !== undefined ? { keyEnv: opts.keyEnv } : {}),
  });
}

function renderList(listing: readonly ModelListing[]): string {
  const rows = listing.map((m) => [
    m.name,
    m.active ?? '-',
    m.latest ?? '-',
    String(m.versions.length),
    m.metadata?.kind ?? '-',
    m.metadata?.symbol ?? '-',
    m.metadata?.timeframe ?? '-',
    fixed(m.metadata?.validation?.accuracy),
    fixed(m.metadata?.validation?.rocAuc),
    m.versions
      .find((v) => v.active)
      ?.createdAt.slice(0, 19)
      .replace('T', ' ') ?? '-',
  ]);
  return textTable(
    ['NAME', 'ACTIVE', 'LATEST', 'VERSIONS', 'KIND', 'SYMBOL', 'TF', 'ACCURACY', 'ROC AUC', 'REGISTERED'],
    rows,
  );
}

function renderDetails(d: ModelDetails): string {
  const head = `${d.name}: active ${d.active ?? 'none'}, latest ${d.latest ?? 'none'}${
    d.history.length > 0 ? `, rollback to ${d.history.at(-1)}` : ''
  }`;
  const rows = d.versions.map((v) => {
    const val = v.meta.validation;
    return [
      v.version,
      v.active ? '*' : '',
      v.createdAt.slice(0, 19).replace('T', ' '),
      v.meta.kind,
      v.meta.training?.symbol ?? '-',
      v.meta.training?.timeframe ?? '-',
      String(v.meta.training?.trainRows ?? '-'),
      val === undefined ? '-' : String(val.rows),
      fixed(val?.accuracy),
      fixed(val?.rocAuc),
      fixed(val?.brier),
      fixed(val?.logLoss),
      formatBytes(v.bytes),
      v.encrypted ? 'yes' : 'no',
    ];
  });
  const cols = ['VERSION', 'ACTIVE', 'REGISTERED', 'KIND', 'SYMBOL', 'TF', 'TRAIN ROWS', 'VAL ROWS', 'ACCURACY'];
  cols.push('ROC AUC', 'BRIER', 'LOG LOSS', 'SIZE', 'ENCRYPTED');
  return `${head}\n${textTable(cols, rows)}`;
}

function renderVerify(r: VerifyReport): string {
  const lines: string[] = [];
  for (const m of r.models) {
    for (const p of m.problems) lines.push(`${m.name}  FAILED  ${p}`);
    for (const v of m.versions)
      lines.push(v.ok ? `${m.name}@${v.version}  ok` : `${m.name}@${v.version}  FAILED  ${v.error}`);
    for (const l of m.leftovers) lines.push(`${m.name}  leftover (never loaded)  ${l}`);
  }
  for (const p of r.removed) lines.push(`removed ${p}`);
  if (lines.length === 0) lines.push(`no models in ${r.root}`);
  const checked = r.models.reduce((n, m) => n + m.versions.length, 0);
  const how = r.signed ? ' (signatures checked)' : '';
  lines.push(r.ok ? `verified ${checked} version(s)${how}: all ok` : 'verification FAILED');
  return lines.join('\n');
}

function fixed(x: number | null | undefined): string {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(3) : '-';
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
