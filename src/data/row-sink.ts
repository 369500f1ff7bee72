/** The contract between a file format reader (CSV, JSON) and what turns its rows into candles. */
export interface RowSink {
  /** Called once, before any row, with the file's column names in file order. */
  columns(names: readonly string[]): void;
  /**
   * One data row. `tokens` holds the text of timestamp, open, high, low, close,
   * volume in that order (the reader maps the file's column order); it is
   * reused for the next row, so read it now. `count` is how many columns the
   * row had, `line` its 1-based line, `index` its 0-based data row number.
   */
  row(tokens: readonly string[], count: number, line: number, index: number): void;
}
