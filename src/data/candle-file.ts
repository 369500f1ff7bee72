/**
 * Candle files in: CSV (`timestamp,open,high,low,close,volume`, any column
 * order, ms/s/ISO timestamps) or ccxt OHLCV JSON (`[[ts,o,h,l,c,v],...]`).
 *
 * Files are streamed in chunks, never read whole. Every row is validated; a
 * bad row is a DataError (a CandleRowError) naming file, line and field. With
 * `repair: true` bad rows and duplicate timestamps are dropped and
 * out-of-order rows sorted instead (this keeps the rows in memory as numbers),
 * and the report counts each action by reason.
 *
 * Symbol and timeframe: the options, else the file name
 * (`binance_BTC-USDT_1h.csv` -> BTC/USDT, 1h), else (timeframe) the most common
 * spacing of the first rows, (symbol) the file's base name.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { DataError } from '../core/errors.js';
import { timeframeToMs } from '../core/timeframe.js';
import type { Candle, Timeframe } from '../core/types.js';
import { CandleAssembler } from './candle-assembler.js';
import { CsvRowReader } from './csv-rows.js';
import { parseCandleFileName } from './file-name-meta.js';
import { JsonRowReader } from './json-rows.js';
import type { CandleLoadReport } from './load-report.js';
import type { TimestampUnit } from './row-validation.js';

export type CandleFileFormat = 'csv' | 'json';

export interface CandleFileOptions {
  /** Overrides the symbol read from the file name. */
  readonly symbol?: string;
  /** Overrides the timeframe read from the file name or inferred from the data. */
  readonly timeframe?: Timeframe;
  /** Drop bad rows and duplicates and sort out-of-order rows instead of throwing. */
  readonly repair?: boolean;
  /** By default from the extension (.json, else CSV), or sniffed when the extension says neither. */
  readonly format?: CandleFileFormat;
  /** Read numeric timestamps as ms or s; by default the first numeric timestamp decides (< 1e11 is seconds). */
  readonly timestampUnit?: TimestampUnit;
  /** How many of the largest gaps the report lists (default 5). */
  readonly largestGaps?: number;
}

export interface ReadCandlesOptions extends CandleFileOptions {
  /** Called with the report once the file has been read to the end. */
  readonly onReport?: (report: CandleLoadReport) => void;
}

export interface LoadedCandles {
  readonly candles: Candle[];
  readonly report: CandleLoadReport;
}

const CHUNK_BYTES = 1 << 18;

function formatFromName(file: string): CandleFileFormat | undefined {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.csv' || ext === '.tsv' || ext === '.txt') return 'csv';
  return undefined;
}

function sniffFormat(text: string): CandleFileFormat {
  const first = text
    .trimStart()
    .replace(/^\uFEFF/, '')
    .charAt(0);
  return first === '[' ? 'json' : 'csv';
}

interface RowReader {
  readonly rowsRead: number;
  push(text: string): void;
  end(): void;
}

/** Feeds text chunks of one file through a format reader into a CandleAssembler. */
class CandleFileReader {
  private rows: RowReader | undefined;
  private assembler: CandleAssembler | undefined;
  private readonly symbol: string;
  private readonly symbolSource: CandleLoadReport['symbolSource'];
  private readonly timeframe: Timeframe | undefined;
  private readonly timeframeSource: CandleLoadReport['timeframeSource'];

  constructor(
    private readonly file: string,
    private readonly options: CandleFileOptions,
    private readonly emit: (candle: Candle) => void,
  ) {
    const meta = parseCandleFileName(file);
    if (options.symbol !== undefined) {
      this.symbol = options.symbol;
      this.symbolSource = 'option';
    } else if (meta.symbol !== undefined) {
      this.symbol = meta.symbol;
      this.symbolSource = 'file-name';
    } else {
      this.symbol = meta.baseName;
      this.symbolSource = 'base-name';
    }
    this.timeframe = options.timeframe ?? meta.timeframe;
    this.timeframeSource =
      options.timeframe !== undefined ? 'option' : meta.timeframe !== undefined ? 'file-name' : 'inferred';
    // A bad timeframe is a ConfigError before any reading.
    if (this.timeframe !== undefined) timeframeToMs(this.timeframe);
  }

  push(text: string): void {
    (this.rows ?? this.start(text)).push(text);
  }

  finish(): CandleLoadReport {
    const rows = this.rows ?? this.start('');
    rows.end();
    return (this.assembler as CandleAssembler).finish(rows.rowsRead);
  }

  private start(firstChunk: string): RowReader {
    const format = this.options.format ?? formatFromName(this.file) ?? sniffFormat(firstChunk);
    const assembler = new CandleAssembler({
      file: this.file,
      format,
      symbol: this.symbol,
      symbolSource: this.symbolSource,
      timeframe: this.timeframe,
      timeframeSource: this.timeframeSource,
      repair: this.options.repair === true,
      ...(this.options.timestampUnit === undefined ? {} : { timestampUnit: this.options.timestampUnit }),
      ...(this.options.largestGaps === undefined ? {} : { largestGaps: this.options.largestGaps }),
      emit: this.emit,
    });
    this.assembler = assembler;
    this.rows = format === 'json' ? new JsonRowReader(this.file, assembler) : new CsvRowReader(this.file, assembler);
    return this.rows;
  }
}

/** Text chunks of a file; file-system failures become DataErrors naming the file. */
async function* textChunks(file: string): AsyncGenerator<string, void, undefined> {
  const stream = createReadStream(file, { encoding: 'utf8', highWaterMark: CHUNK_BYTES });
  try {
    for await (const chunk of stream) yield chunk as string;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError('file not found', { file }, { cause: err });
    if (code === 'EISDIR') throw new DataError('is a directory, not a candle file', { file }, { cause: err });
    throw new DataError(`cannot read: ${(err as Error).message}`, { file }, { cause: err });
  } finally {
    stream.destroy();
  }
}

/**
 * Streams the validated candles of a file, in timestamp order. The generator's
 * return value (and `options.onReport`) is the load report. Breaking out of
 * the loop closes the file.
 */
export async function* readCandles(
  file: string,
  options: ReadCandlesOptions = {},
): AsyncGenerator<Candle, CandleLoadReport, undefined> {
  const batch: Candle[] = [];
  const reader = new CandleFileReader(file, options, (candle) => {
    batch.push(candle);
  });
  // A bad row throws only after the good candles read before it have been yielded.
  let failure: { error: unknown } | undefined;
  for await (const chunk of textChunks(file)) {
    try {
      reader.push(chunk);
    } catch (error) {
      failure = { error };
    }
    for (let i = 0; i < batch.length; i++) yield batch[i] as Candle;
    batch.length = 0;
    if (failure !== undefined) throw failure.error;
  }
  let report: CandleLoadReport | undefined;
  try {
    report = reader.finish();
  } catch (error) {
    failure = { error };
  }
  for (let i = 0; i < batch.length; i++) yield batch[i] as Candle;
  batch.length = 0;
  if (failure !== undefined || report === undefined) throw failure?.error;
  options.onReport?.(report);
  return report;
}

/** All candles of a file plus the load report. */
export async function loadCandles(file: string, options: CandleFileOptions = {}): Promise<LoadedCandles> {
  const candles: Candle[] = [];
  const reader = new CandleFileReader(file, options, (candle) => {
    candles.push(candle);
  });
  for await (const chunk of textChunks(file)) reader.push(chunk);
  return { candles, report: reader.finish() };
}
