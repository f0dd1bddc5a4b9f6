import { createLogger } from '../../tasks/shared/logger';

describe('structured logger', () => {
  let lines: string[];
  let log: jest.SpyInstance;
  let err: jest.SpyInstance;

  beforeEach(() => {
    // The suite-wide default (test/setup) is WARN; these tests are about the logger's own default.
    delete process.env.LOG_LEVEL;
    lines = [];
    log = jest.spyOn(console, 'log').mockImplementation((l: string) => void lines.push(l));
    err = jest.spyOn(console, 'error').mockImplementation((l: string) => void lines.push(l));
  });
  afterEach(() => {
    log.mockRestore();
    err.mockRestore();
    delete process.env.LOG_LEVEL;
  });

  it('writes one JSON line with level, service, message, timestamp and the fields', () => {
    createLogger('svc').info('hello', { clientId: 'd1', error: new TypeError('bad') });
    const entry = JSON.parse(lines[0]);
    expect(entry).toMatchObject({ level: 'INFO', service: 'svc', message: 'hello', clientId: 'd1', error: { name: 'TypeError', message: 'bad' } });
    expect(Date.parse(entry.timestamp)).not.toBeNaN();
  });

  it('never lets a field replace its own keys', () => {
    createLogger('svc').warn('stale', { timestamp: 1, level: 'x' });
    const entry = JSON.parse(lines[0]);
    expect(entry).toMatchObject({ level: 'WARN', field_timestamp: 1, field_level: 'x' });
    expect(typeof entry.timestamp).toBe('string');
  });

  it('drops lines below LOG_LEVEL', () => {
    process.env.LOG_LEVEL = 'warn';
    const logger = createLogger('svc');
    logger.info('quiet');
    logger.error('loud');
    expect(lines.map((l) => JSON.parse(l).message)).toEqual(['loud']);
  });
});
