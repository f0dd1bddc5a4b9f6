/**
 * One structured JSON logger for every task: CloudWatch Logs Insights can filter on the fields,
 * and the Step Functions console links each Lambda invocation to these lines.
 */
type Level = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
const ORDER: Record<Level, number> = { DEBUG: 10, INFO: 20, WARN: 30, ERROR: 40 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const serialise = (value: unknown): unknown =>
  value instanceof Error ? { name: value.name, message: value.message } : value;

export const createLogger = (service: string): Logger => {
  const threshold = ORDER[(process.env.LOG_LEVEL?.toUpperCase() as Level) ?? 'INFO'] ?? ORDER.INFO;
  const write = (level: Level, message: string, fields: Record<string, unknown> = {}) => {
    if (ORDER[level] < threshold) return;
    const entry: Record<string, unknown> = { level, service, message, timestamp: new Date().toISOString() };
    // A field never replaces level, service, message or timestamp, which log queries rely on.
    for (const [key, value] of Object.entries(fields)) entry[key in entry ? `field_${key}` : key] = serialise(value);
    const line = JSON.stringify(entry);
    if (level === 'ERROR' || level === 'WARN') console.error(line);
    else console.log(line);
  };
  return {
    debug: (m, f) => write('DEBUG', m, f),
    info: (m, f) => write('INFO', m, f),
    warn: (m, f) => write('WARN', m, f),
    error: (m, f) => write('ERROR', m, f),
  };
};
