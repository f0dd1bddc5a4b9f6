/**
 * The context keys `workflowLogLevel` and `logExecutionData`: what the workflow and the pipe log
 * for each value, and the values refused. Templates only, so bundling is skipped.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { ConfigError, readConfigFrom } from '../../infra/config';
import { nagFindings, synthesize } from './support/synth';

describe('the workflow and pipe log configuration, per context value', () => {
  it.each([
    ['by default: ALL without execution data', {}, 'ALL', false],
    ['ERROR without execution data', { workflowLogLevel: 'ERROR' }, 'ERROR', false],
    // Strings, as `cdk -c key=value` passes them.
    ['ALL with execution data', { workflowLogLevel: 'ALL', logExecutionData: 'true' }, 'ALL', true],
    ['OFF', { workflowLogLevel: 'OFF' }, 'OFF', false],
  ])('logs %s', (_case, context, level, withData) => {
    const s = synthesize(context, { bundle: false });
    s.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: Match.objectLike({ Level: level, IncludeExecutionData: withData }),
    });
    // The pipe logs its failures at ERROR whatever the workflow does; their payloads only on request.
    s.template.hasResourceProperties('AWS::Pipes::Pipe', {
      LogConfiguration: Match.objectLike({ Level: 'ERROR', IncludeExecutionData: withData ? ['ALL'] : Match.absent() }),
    });
    expect(nagFindings(s.app)).toEqual([]);
  }, 120_000);
});

describe('readConfigFrom, log keys', () => {
  const read = (context: Record<string, unknown>) => readConfigFrom((key) => context[key]);

  it('defaults to ALL without execution data', () => {
    expect(read({})).toMatchObject({ workflowLogLevel: 'ALL', logExecutionData: false });
  });

  it('accepts every Step Functions level in any case, and booleans from cdk.json or strings from -c', () => {
    expect(read({ workflowLogLevel: 'fatal', logExecutionData: true })).toMatchObject({ workflowLogLevel: 'FATAL', logExecutionData: true });
    expect(read({ workflowLogLevel: ' ERROR ', logExecutionData: 'TRUE' })).toMatchObject({ workflowLogLevel: 'ERROR', logExecutionData: true });
    expect(read({ workflowLogLevel: 'OFF', logExecutionData: 'false' })).toMatchObject({ workflowLogLevel: 'OFF', logExecutionData: false });
  });

  it.each([
    [{ workflowLogLevel: 'INFO' }, /"workflowLogLevel" must be one of ALL, ERROR, FATAL, OFF, got "INFO"/],
    [{ workflowLogLevel: 'ALL,ERROR' }, /"workflowLogLevel"/],
    [{ workflowLogLevel: 3 }, /"workflowLogLevel" must be a string/],
    [{ logExecutionData: 'yes' }, /"logExecutionData" must be true or false, got "yes"/],
    [{ logExecutionData: 1 }, /"logExecutionData" must be true or false, got 1/],
    [{ workflowLogLevel: 'OFF', logExecutionData: 'true' }, /"logExecutionData" is true but "workflowLogLevel" is OFF/],
  ])('rejects %j, naming the key', (context, message) => {
    expect(() => read(context)).toThrow(ConfigError);
    expect(() => read(context)).toThrow(message);
  });
});
