/**
 * The Powertools configuration of every task Lambda (tasks/shared/observability.ts): its
 * environment per context value, tracing, no extra permission for EMF, and Powertools inside the
 * bundle (never left to the runtime).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { synthesize, type Synthesized } from './support/synth';

type Resource = { Properties: Record<string, unknown> & { Description?: string; Environment?: { Variables: Record<string, unknown> } } };

const taskFunctions = (s: Synthesized): [string, Resource][] =>
  Object.values(s.template.findResources('AWS::Lambda::Function') as Record<string, Resource>)
    .filter((fn) => fn.Properties.Description?.startsWith('convo-notify task: '))
    .map((fn) => [fn.Properties.Description!.slice('convo-notify task: '.length), fn]);

describe('TaskFunction, Powertools', () => {
  let byDefault: Synthesized;
  let withData: Synthesized;
  beforeAll(() => {
    byDefault = synthesize({}, { bundle: false });
    withData = synthesize({ logExecutionData: 'true' }, { bundle: false });
  }, 240_000);

  it('configures every task Lambda by environment: its service name, the ConvoNotify namespace, INFO, no event logging', () => {
    const tasks = taskFunctions(byDefault);
    expect(tasks.map(([name]) => name)).toEqual(expect.arrayContaining(['agent-api', 'apply-schema', 'check-presence', 'deactivate-devices', 'iot-authorizer', 'normalize-batch', 'record-presence', 'resolve-recipients']));
    for (const [name, fn] of tasks) {
      expect({ name, variables: fn.Properties.Environment?.Variables }).toEqual({
        name,
        variables: expect.objectContaining({
          POWERTOOLS_SERVICE_NAME: name,
          POWERTOOLS_METRICS_NAMESPACE: 'ConvoNotify',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          POWERTOOLS_LOGGER_LOG_EVENT: 'false',
        }),
      });
      // The hand-written logger's variable is gone; nothing may turn metrics or tracing off on AWS.
      expect(Object.keys(fn.Properties.Environment?.Variables ?? {})).toEqual(
        expect.not.arrayContaining(['LOG_LEVEL', 'POWERTOOLS_METRICS_DISABLED', 'POWERTOOLS_TRACE_ENABLED', 'POWERTOOLS_DEV']),
      );
      expect({ name, tracing: fn.Properties.TracingConfig }).toEqual({ name, tracing: { Mode: 'Active' } });
    }
  });

  it('logs the events of every task Lambda when the context key logExecutionData is true', () => {
    const tasks = taskFunctions(withData);
    expect(tasks.length).toBeGreaterThanOrEqual(8);
    for (const [name, fn] of tasks) {
      expect({ name, logEvent: fn.Properties.Environment?.Variables.POWERTOOLS_LOGGER_LOG_EVENT }).toEqual({ name, logEvent: 'true' });
    }
  });

  it('grants no CloudWatch permission for metrics: EMF objects are log lines', () => {
    const policies = JSON.stringify(byDefault.template.findResources('AWS::IAM::Policy'));
    expect(policies).not.toContain('cloudwatch:PutMetricData');
  });
});

describe('TaskFunction bundles', () => {
  let bundled: Synthesized;
  beforeAll(() => {
    bundled = synthesize();
  }, 300_000);

  it('carry Powertools Logger, Metrics and Tracer inside each bundle, never as a runtime import', () => {
    const tasks = taskFunctions(bundled);
    expect(tasks.length).toBeGreaterThanOrEqual(8);
    for (const [name, fn] of tasks) {
      const key = ((fn.Properties.Code as { S3Key: string }).S3Key).replace(/\.zip$/, '');
      const bundle = readFileSync(join(bundled.assemblyDir, `asset.${key}`, 'index.js'), 'utf8');
      expect({ name, external: /require\(["']@aws-lambda-powertools\//.test(bundle) }).toEqual({ name, external: false });
      for (const marker of ['POWERTOOLS_LOG_LEVEL', 'POWERTOOLS_METRICS_NAMESPACE', 'POWERTOOLS_TRACE_ENABLED', 'CloudWatchMetrics']) {
        expect({ name, marker, present: bundle.includes(marker) }).toEqual({ name, marker, present: true });
      }
    }
  });
});
