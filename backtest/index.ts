export * from './format.js';
export * from './ml-backtest.js';
export * from './ml-report.js';
export * from './report-console.js';
export * from './report-html.js';
export * from './report-json.js';
export * from './run-backtest.js';
