export { calibrationBin, OutcomeStats } from '../models/outcome-stats.js';
export { CandleSchedule, type ScheduledEntry } from './candle-schedule.js';
export { DriftMonitor, type DriftTransition } from './drift-monitor.js';
export { type JournalRecord, parseRecord, serializeRecord } from './journal-records.js';
export { JsonLinesAppender, type JsonLinesScan, scanJsonLines } from './jsonl-file.js';
export { PredictionTracker, type PredictionTrackerOptions } from './prediction-tracker.js';
export * from './types.js';
