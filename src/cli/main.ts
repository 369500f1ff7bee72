#!/usr/bin/env node
/**
 * `quantflow`: one command per job. Each command lives in commands/<name>.ts
 * and exports `register(program)`; this file only assembles them.
 */
import { Command } from 'commander';
import * as backtestCommand from './commands/backtest.js';
import * as downloadCommand from './commands/download.js';
import * as featuresCommand from './commands/features.js';
import * as modelsCommand from './commands/models.js';
import * as trainCommand from './commands/train.js';
import { readPackageVersion } from './package-version.js';

const program = new Command('quantflow')
  .description('QuantFlow ML: machine-learning trading strategies for backtest, paper and live trading')
  .version(readPackageVersion())
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) });

const commands: Array<{ register(program: Command): void }> = [
  backtestCommand,
  downloadCommand,
  featuresCommand,
  modelsCommand,
  trainCommand,
  await import('./commands/trade.js'),
  await import('./commands/serve.js'),
  await import('./commands/check-leaks.js'),
  await import('./commands/sweep.js'),
  await import('./commands/risk.js'),
];
for (const c of commands) c.register(program);

await program.parseAsync(process.argv);
