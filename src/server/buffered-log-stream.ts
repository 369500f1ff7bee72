/**
 * Where the server's JSON log lines go by default: stdout, in batches. One
 * line per request at thousands of requests per second would otherwise cost
 * one write system call each (about a third of the server's time when
 * measured); batching writes at most every `intervalMs` or `maxBytes`.
 * Flushed on `flush()` (the server calls it when closing) and on process
 * exit, so only a hard kill can lose the last `intervalMs` of lines.
 */
export interface LineSink {
  write(chunk: string): unknown;
}

export class BufferedLogStream {
  private parts: string[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly onExit = () => this.flush();

  constructor(
    private readonly sink: LineSink = process.stdout,
    private readonly intervalMs = 50,
    private readonly maxBytes = 64 * 1024,
  ) {
    process.on('exit', this.onExit);
  }

  write(line: string): void {
    this.parts.push(line);
    this.bytes += line.length;
    if (this.bytes >= this.maxBytes) this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.parts.length === 0) return;
    const chunk = this.parts.length === 1 ? this.parts[0]! : this.parts.join('');
    this.parts = [];
    this.bytes = 0;
    this.sink.write(chunk);
  }

  /** Flushes and stops flushing on process exit. */
  close(): void {
    this.flush();
    process.off('exit', this.onExit);
  }
}
