/**
 * Takes over the process's stdout and stderr while the bench runs: whatever the local runtime and
 * the handlers write is counted (bytes per log line, by the line's `service`) and never shown, so
 * the bench prints its tables and nothing else, and the counted bytes are what the Lambdas would
 * send to CloudWatch Logs at the level they run at.
 */

type Write = typeof process.stdout.write;

export interface CapturedLogs {
  lines: number;
  bytes: number;
  /** Bytes by the JSON line's `service` (Powertools and the shared logger write one), `metrics (EMF)` for metric lines, `other` for the rest. */
  byService: Record<string, number>;
}

const sourceOf = (line: string): string => {
  if (!line.startsWith('{')) return 'other';
  try {
    const parsed = JSON.parse(line) as Record<string, unknown>;
    if (parsed._aws !== undefined) return 'metrics (EMF)';
    return typeof parsed.service === 'string' ? parsed.service : 'other';
  } catch {
    return 'other';
  }
};

export class OutputCapture {
  private readonly stdoutWrite: Write;
  private readonly stderrWrite: Write;
  private pending = '';
  private logs: CapturedLogs = { lines: 0, bytes: 0, byService: {} };
  private active = false;

  constructor() {
    this.stdoutWrite = process.stdout.write.bind(process.stdout) as Write;
    this.stderrWrite = process.stderr.write.bind(process.stderr) as Write;
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    const swallow = ((chunk: unknown, encoding?: unknown, callback?: unknown) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString(typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
      this.ingest(text);
      const done = typeof encoding === 'function' ? encoding : callback;
      if (typeof done === 'function') (done as () => void)();
      return true;
    }) as Write;
    process.stdout.write = swallow;
    process.stderr.write = swallow;
  }

  /** Gives the streams back; what the process writes from now on is shown again. */
  stop(): void {
    if (!this.active) return;
    this.flushPending();
    process.stdout.write = this.stdoutWrite;
    process.stderr.write = this.stderrWrite;
    this.active = false;
  }

  /** The bench's own output, past the capture. */
  print(text: string): void {
    this.stdoutWrite(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Shown on stderr past the capture: a failure of the bench itself. */
  printError(text: string): void {
    this.stderrWrite(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** What was captured since the last call, which starts a new count. */
  collect(): CapturedLogs {
    this.flushPending();
    const logs = this.logs;
    this.logs = { lines: 0, bytes: 0, byService: {} };
    return logs;
  }

  private ingest(text: string): void {
    const parts = (this.pending + text).split('\n');
    this.pending = parts.pop() ?? '';
    for (const line of parts) this.count(line);
  }

  private flushPending(): void {
    if (this.pending.length > 0) this.count(this.pending);
    this.pending = '';
  }

  private count(line: string): void {
    if (line.length === 0) return;
    const bytes = Buffer.byteLength(line);
    const source = sourceOf(line);
    this.logs.lines += 1;
    this.logs.bytes += bytes;
    this.logs.byService[source] = (this.logs.byService[source] ?? 0) + bytes;
  }
}
