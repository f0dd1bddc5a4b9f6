/** One parsed line of a task's Powertools Logger. */
export type LogEntry = { level: string; message: string } & Record<string, unknown>;

/** One CloudWatch embedded-metric-format (EMF) object, as Powertools Metrics prints it. */
export interface EmfObject {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[];
  };
  /** Dimension values and metric values, by name. */
  [key: string]: unknown;
}

export interface CapturedOutput {
  logs: LogEntry[];
  metrics: EmfObject[];
}

type Write = typeof process.stdout.write;

let spies: { stdout: jest.SpyInstance; stderr: jest.SpyInstance } | undefined;
let sinks: CapturedOutput[] = [];

const isEmf = (value: Record<string, unknown>): boolean => typeof value._aws === 'object' && value._aws !== null;
const isLogEntry = (value: Record<string, unknown>): boolean => typeof value.level === 'string' && typeof value.message === 'string';

/** The JSON objects of a chunk (one per line), or undefined when any line is something else. */
const objectsOf = (text: string): Record<string, unknown>[] | undefined => {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const objects: Record<string, unknown>[] = [];
  for (const line of lines) {
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
      objects.push(value as Record<string, unknown>);
    } catch {
      return undefined;
    }
  }
  return objects;
};

/** True when the text was log lines or EMF objects, now recorded in every sink. */
const record = (text: string): boolean => {
  const objects = objectsOf(text);
  if (objects === undefined || objects.length === 0 || !objects.every((o) => isEmf(o) || isLogEntry(o))) return false;
  for (const object of objects) {
    for (const sink of sinks) {
      if (isEmf(object)) sink.metrics.push(object as EmfObject);
      else sink.logs.push(object as LogEntry);
    }
  }
  return true;
};

const spyOnStream = (stream: NodeJS.WriteStream): jest.SpyInstance => {
  const original = stream.write.bind(stream) as Write;
  return jest.spyOn(stream, 'write').mockImplementation(((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (record(text)) return true;
    // Anything else (Jest's own output) goes where it was going.
    return (original as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean)(chunk, ...rest);
  }) as Write);
};

/** False again after `jest.restoreAllMocks()`, which puts the streams' own write back. */
const installed = (): boolean => spies !== undefined && (process.stdout.write as unknown) === spies.stdout && (process.stderr.write as unknown) === spies.stderr;

/**
 * Captures (and silences) what the task Lambdas write: Powertools Logger lines and Metrics EMF
 * objects. Powertools writes to process.stdout / process.stderr through its own console (not the
 * global one, which Jest replaces), so the streams are spied; lines that are neither pass through.
 * Every capture taken since the last `jest.restoreAllMocks()` receives every line that follows it.
 */
export const captureOutput = (): CapturedOutput => {
  if (!installed()) {
    sinks = [];
    spies = { stdout: spyOnStream(process.stdout), stderr: spyOnStream(process.stderr) };
    // Code that logs through the global console (e.g. with POWERTOOLS_DEV set) is captured alike.
    for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        record(args.map(String).join(' '));
      });
    }
  }
  const sink: CapturedOutput = { logs: [], metrics: [] };
  sinks.push(sink);
  return sink;
};

/** The log lines written from now on; see {@link captureOutput}. Restore with `jest.restoreAllMocks()`. */
export const captureLogs = (): LogEntry[] => captureOutput().logs;

/** The EMF objects written from now on; see {@link captureOutput}. */
export const captureMetrics = (): EmfObject[] => captureOutput().metrics;

/** Every metric of the captured EMF objects, flattened: name, value, namespace and dimensions. */
export const metricPoints = (metrics: readonly EmfObject[]): { name: string; unit: string; value: unknown; namespace: string; dimensions: Record<string, unknown> }[] =>
  metrics.flatMap((emf) =>
    emf._aws.CloudWatchMetrics.flatMap((directive) =>
      directive.Metrics.map((metric) => ({
        name: metric.Name,
        unit: metric.Unit,
        value: emf[metric.Name],
        namespace: directive.Namespace,
        dimensions: Object.fromEntries(directive.Dimensions.flat().map((dimension) => [dimension, emf[dimension]])),
      })),
    ),
  );
