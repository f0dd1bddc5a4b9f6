/** One parsed line of the tasks' structured logger. */
export type LogEntry = { level: string; message: string } & Record<string, unknown>;

/**
 * Captures (and silences) what the structured logger writes, so a test can assert that something
 * was logged as well as returned. Restore with `jest.restoreAllMocks()`.
 */
export const captureLogs = (): LogEntry[] => {
  const entries: LogEntry[] = [];
  const record = (line?: unknown) => {
    entries.push(JSON.parse(String(line)) as LogEntry);
  };
  jest.spyOn(console, 'log').mockImplementation(record);
  jest.spyOn(console, 'error').mockImplementation(record);
  return entries;
};
