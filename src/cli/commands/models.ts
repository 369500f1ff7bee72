/**
 * `quantflow models ...`: the model registry from the command line.
 *
 *   models list | show NAME | register NAME DIR | promote NAME VERSION | rollback NAME
 *   models verify [NAME] [--fix] | delete NAME [VERSION] [--force]
 *
 * Every subcommand takes --registry DIR (default $QUANTFLOW_REGISTRY or
 * .quantflow/registry), --key-env NAME (default QUANTFLOW_REGISTRY_KEY) and
 * --json for machine-readable output.
 */
import type { Command } from 'commander';
import { IntegrityError } from '../../core/errors.js';
import {
  DEFAULT_KEY_ENV,
  type ModelDetails,
  type ModelListing,
  ModelRegistry,
  type RegistryOptions,
  type VerifyReport,
} from '../../registry/index.js';
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
      .description('store a model directory as the next version of NAME'),
  ).action(
    action(async (name: string, dir: string, opts: CommonOptions & { activate?: boolean; encrypt?: boolean }) => {
      const registry = await openRegistry(opts, { create: true, ...(opts.encrypt ? { encrypt: true } : {}) });
      const v = await registry.register(name, dir, { activate: opts.activate === true });
      if (opts.json) return printJson(v);
      const how = v.encrypted ? ', encrypted' : '';
      const state = v.active ? 'active' : `not active; activate with: quantflow models promote ${name} ${v.version}`;
      print(`registered ${v.ref} (${v.files} files, ${formatBytes(v.bytes)}${how}) - ${state}`);
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
    m.metadata?.kind ?? (m.versions.some((v) => v.active && v.encrypted) ? '(no key)' : '-'),
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
    for (const l of m.leftovers) lines.push(`${m.name}  leftover (ignored)  ${l}`);
  }
  for (const p of r.removed) lines.push(`removed ${p}`);
  if (lines.length === 0) lines.push(`no models in ${r.root}`);
  const checked = r.models.reduce((n, m) => n + m.versions.length, 0);
  lines.push(r.ok ? `verified ${checked} version(s): all ok` : 'verification FAILED');
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
