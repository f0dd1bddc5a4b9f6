import { DeleteItemCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { AgentApi } from '../../client/api';
import { TokenSource } from '../../client/token';
import { UsageError } from '../../ops/cli';
import { DEFAULT_DEVICE_LABEL, DEFAULT_STEP_TIMEOUT_MS, parseSmokeArgs } from '../../ops/smoke/args';
import { resolveSmoke } from '../../ops/smoke/main';
import { formatStep, formatSummary, PROBE_CHANNEL, PROBE_SENDER_ID, runSmoke, type StepReport } from '../../ops/smoke/smoke';

describe('ops/smoke/args: the smoke command line', () => {
  it('defaults the step timeout and the device label, and keeps the probe agent', () => {
    const args = parseSmokeArgs(['--agent-id', 'probe', '--tenant-id', 'acme', '--token', 'jwt']);
    expect(args).toMatchObject({ agentId: 'probe', tenantId: 'acme', token: 'jwt', stepTimeoutMs: DEFAULT_STEP_TIMEOUT_MS, label: DEFAULT_DEVICE_LABEL, local: false });
  });

  it('answers --help without the required flags', () => {
    expect(parseSmokeArgs(['--help']).help).toBe(true);
  });

  it.each([
    [['--agent-id', 'a', '--tenant-id', 't', '--token', 'x', '--token-file', 'f'], 'give --token or --token-file, not both'],
    [['--agent-id', 'a', '--tenant-id', 't', '--api-url', 'execute-api.example.com'], '--api-url must be an http(s) URL, got "execute-api.example.com"'],
    [['--agent-id', 'a', '--tenant-id', 't', '--step-timeout-ms', '50'], '--step-timeout-ms must be a whole number of milliseconds from 100 to 600000, got "50"'],
    [['--agent-id', 'a'], "--tenant-id is required: the probe agent's tenant"],
    [['--agent-id', '', '--tenant-id', 't'], '--agent-id must not be empty'],
  ])('refuses %j with a usage error naming the flag', (argv, message) => {
    expect(() => parseSmokeArgs(argv)).toThrow(new UsageError(message));
  });
});

describe('ops/smoke/main: where the smoke goes', () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'smoke-locations-'));
    file = join(dir, 'outputs.json');
    writeFileSync(
      file,
      JSON.stringify({
        ConvoNotify: { ConvoHistoryTableName: 'CONVO_HISTORY', AgentApiUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/', IotAuthorizerName: 'convo-notify-agent-jwt', PresenceTableName: 'P', OpsTopicArn: 'x' },
        region: 'eu-west-1',
        endpoints: { dynamodb: 'http://127.0.0.1:1', agentApi: 'http://127.0.0.1:2', mqttWs: 'ws://127.0.0.1:3/mqtt', tokenIssuer: 'http://127.0.0.1:4' },
      }),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const argsOf = (...extra: string[]) => parseSmokeArgs(['--agent-id', 'probe', '--tenant-id', 'acme', '--local', '--outputs', file, ...extra]);

  it('reads the agent API URL, authorizer name and presence table of the stack, and the local endpoints, from the outputs file', () => {
    expect(resolveSmoke(argsOf(), {})).toEqual({
      apiUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/',
      region: 'eu-west-1',
      dynamodbEndpoint: 'http://127.0.0.1:1',
      tokenIssuer: 'http://127.0.0.1:4',
      target: {
        agentId: 'probe',
        tenantId: 'acme',
        convoHistoryTable: 'CONVO_HISTORY',
        presenceTable: 'P',
        iotEndpoint: 'ws://127.0.0.1:3/mqtt',
        authorizerName: 'convo-notify-agent-jwt',
        deviceLabel: DEFAULT_DEVICE_LABEL,
      },
    });
  });

  it('lets each flag win over the outputs file', () => {
    const resolved = resolveSmoke(
      argsOf(
        '--api-url', 'https://flag.example.com/',
        '--authorizer-name', 'flag-authorizer',
        '--presence-table', 'FLAG_P',
        '--table', 'FLAG_T',
        '--iot-endpoint', 'abc-ats.iot.eu-west-1.amazonaws.com',
        '--token-issuer', 'http://127.0.0.1:9',
        '--region', 'us-east-2',
      ),
      {},
    );
    expect(resolved).toMatchObject({
      apiUrl: 'https://flag.example.com/',
      region: 'us-east-2',
      tokenIssuer: 'http://127.0.0.1:9',
      target: { convoHistoryTable: 'FLAG_T', presenceTable: 'FLAG_P', iotEndpoint: 'abc-ats.iot.eu-west-1.amazonaws.com', authorizerName: 'flag-authorizer' },
    });
  });

  it('names the output key and the flag of what neither the file nor a flag gives', () => {
    const bare = join(dir, 'bare.json');
    writeFileSync(bare, JSON.stringify({ ConvoNotify: { StateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:x' } }));
    const argsWith = (...extra: string[]) => parseSmokeArgs(['--agent-id', 'probe', '--tenant-id', 'acme', '--token', 'jwt', '--outputs', bare, ...extra]);
    expect(() => resolveSmoke(argsWith(), {})).toThrow('no AgentApiUrl: pass --outputs <cdk outputs file> or --api-url');
    expect(() => resolveSmoke(argsWith('--api-url', 'https://abc.example.com/'), {})).toThrow('no ConvoHistoryTableName: pass --outputs <cdk outputs file> or --table');
    expect(() => resolveSmoke(argsWith('--api-url', 'https://abc.example.com/', '--table', 'T', '--iot-endpoint', 'h'), {})).toThrow(
      'no IotAuthorizerName: pass --outputs <cdk outputs file> or --authorizer-name',
    );
  });
});

describe('ops/smoke/smoke: the steps', () => {
  const ddb = mockClient(DynamoDBClient);
  afterEach(() => ddb.reset());

  /** A broker connection that accepts and grants, and never delivers anything. */
  class SilentBroker extends EventEmitter {
    connected = true;
    url?: string;
    constructor(url: string) {
      super();
      this.url = url;
      setImmediate(() => this.emit('connect'));
    }
    subscribeAsync = async () => [{ topic: 't', qos: 1 }];
    endAsync = async () => {
      this.connected = false;
    };
  }

  const clientId = '0123456789abcdef-fedcba9876543210';
  const jwt = `x.${Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url')}.y`;

  it('times a step out after --step-timeout-ms, skips the later checks, and still unregisters the device and deletes the item', async () => {
    ddb.on(GetItemCommand).resolves({
      Item: { clientId: { S: clientId }, state: { S: 'connected' }, sessionIdentifier: { S: 's1' }, subscriptions: { M: { s1: { M: { subscribed: { BOOL: true }, at: { N: '1' } } } } } },
    });
    ddb.on(PutItemCommand).resolves({});
    ddb.on(DeleteItemCommand).resolves({ Attributes: { conversationId: { S: 'c' } } });
    const unregistered: string[] = [];
    const api = {
      registerDevice: async (label?: string) => ({ clientId, label: label ?? null, active: true, registeredAt: '2026-12-01T00:00:00Z', lastSeenAt: '2026-12-01T00:00:00Z', notifyTopic: `notify/${clientId}` }),
      unregisterDevice: async (id: string) => {
        unregistered.push(id);
      },
    } as unknown as AgentApi;
    const brokers: SilentBroker[] = [];
    const seen: StepReport[] = [];

    const report = await runSmoke(
      { agentId: 'probe', tenantId: 'acme', convoHistoryTable: 'CONVO_HISTORY', presenceTable: 'PRESENCE', iotEndpoint: 'abc-ats.iot.eu-west-1.amazonaws.com', authorizerName: 'convo-notify-agent-jwt', deviceLabel: 'smoke-probe' },
      {
        api,
        tokens: new TokenSource({ getToken: async () => jwt }),
        dynamodb: new DynamoDBClient({ region: 'eu-west-1' }),
        connectMqtt: (url) => {
          const broker = new SilentBroker(url);
          brokers.push(broker);
          return broker as unknown as MqttClient;
        },
      },
      { stepTimeoutMs: 300, runId: 'run-1', onStep: (s) => seen.push(s) },
    );

    expect(report.ok).toBe(false);
    expect(seen).toEqual(report.steps);
    expect(report.steps.map((s) => [s.name, s.status])).toEqual([
      ['register device', 'passed'],
      ['connect MQTT', 'passed'],
      ['subscribe', 'passed'],
      ['device online', 'passed'],
      ['write probe message', 'passed'],
      ['pushed as new', 'failed'],
      ['in the inbox', 'skipped'],
      ['claim', 'skipped'],
      ['pushed as handled', 'skipped'],
      ['handled in the inbox', 'skipped'],
      ['ack inbox', 'passed'],
      ['disconnect', 'passed'],
      ['unregister device', 'passed'],
      ['delete probe message', 'passed'],
    ]);
    const timedOut = report.steps[5];
    expect(timedOut.error).toBe('StepTimeoutError: "pushed as new" timed out after 300 ms');
    expect(timedOut.ms).toBeGreaterThanOrEqual(290);
    expect(formatStep(timedOut)).toMatch(/^ {2}FAIL pushed as new +\d+ ms +StepTimeoutError/);

    expect(brokers[0].url).toBe(`wss://abc-ats.iot.eu-west-1.amazonaws.com/mqtt?x-amz-customauthorizer-name=convo-notify-agent-jwt&token=${jwt}`);
    expect(ddb.commandCalls(PutItemCommand)[0].args[0].input).toEqual({
      TableName: 'CONVO_HISTORY',
      Item: {
        conversationId: { S: 'smoke-run-1' },
        messageId: { S: 'probe-run-1' },
        tenantId: { S: 'acme' },
        senderId: { S: PROBE_SENDER_ID },
        senderType: { S: 'customer' },
        channel: { S: PROBE_CHANNEL },
        body: { S: 'convo-notify smoke probe run-1: safe to ignore, deleted at the end of the run' },
        createdAt: { S: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) },
        assignedAgentId: { S: 'probe' },
      },
      ConditionExpression: 'attribute_not_exists(#pk)',
      ExpressionAttributeNames: { '#pk': 'conversationId' },
    });
    expect(ddb.commandCalls(GetItemCommand)[0].args[0].input).toEqual({ TableName: 'PRESENCE', Key: { clientId: { S: clientId } }, ConsistentRead: true });
    expect(unregistered).toEqual([clientId]);
    expect(ddb.commandCalls(DeleteItemCommand).map((c) => c.args[0].input)).toEqual([
      { TableName: 'CONVO_HISTORY', Key: { conversationId: { S: 'smoke-run-1' }, messageId: { S: 'probe-run-1' } }, ReturnValues: 'ALL_OLD' },
    ]);
    expect(brokers[0].connected).toBe(false);
  });

  describe('a call that answers after its step timed out', () => {
    const target = { agentId: 'probe', tenantId: 'acme', convoHistoryTable: 'CONVO_HISTORY', presenceTable: 'PRESENCE', iotEndpoint: 'abc-ats.iot.eu-west-1.amazonaws.com', authorizerName: 'convo-notify-agent-jwt', deviceLabel: 'smoke-probe' };
    const device = { clientId, label: 'smoke-probe', active: true, registeredAt: '2026-12-01T00:00:00Z', lastSeenAt: '2026-12-01T00:00:00Z', notifyTopic: `notify/${clientId}` };
    const later = <T>(ms: number, value: T, then?: () => void): Promise<T> =>
      new Promise((resolve) =>
        setTimeout(() => {
          then?.();
          resolve(value);
        }, ms),
      );
    const smoke = (api: Partial<AgentApi>) =>
      runSmoke(
        target,
        {
          api: api as AgentApi,
          tokens: new TokenSource({ getToken: async () => jwt }),
          dynamodb: new DynamoDBClient({ region: 'eu-west-1' }),
          connectMqtt: (url) => new SilentBroker(url) as unknown as MqttClient,
        },
        { stepTimeoutMs: 400, runId: 'run-2' },
      );
    const statusOf = (steps: StepReport[], name: string) => steps.find((s) => s.name === name);

    beforeEach(() => {
      ddb.on(GetItemCommand).resolves({
        Item: { clientId: { S: clientId }, state: { S: 'connected' }, sessionIdentifier: { S: 's1' }, subscriptions: { M: { s1: { M: { subscribed: { BOOL: true }, at: { N: '1' } } } } } },
      });
      ddb.on(DeleteItemCommand).resolves({ Attributes: { conversationId: { S: 'c' } } });
    });

    it('unregisters a device whose registration answered after "register device" timed out', async () => {
      const unregistered: string[] = [];
      const report = await smoke({
        registerDevice: () => later(500, device),
        unregisterDevice: async (id: string) => {
          unregistered.push(id);
        },
      });

      expect(statusOf(report.steps, 'register device')).toMatchObject({ status: 'failed', error: 'StepTimeoutError: "register device" timed out after 400 ms' });
      expect(statusOf(report.steps, 'unregister device')).toMatchObject({
        status: 'passed',
        detail: `DELETE /devices/${clientId} (registered after its step timed out): the device and its inbox are gone`,
      });
      expect(unregistered).toEqual([clientId]);
      expect(report.probe.clientId).toBe(clientId);
      expect(formatSummary(report)).toContain('cleanup done');
    });

    it('reports a possible leftover device when the registration has not answered by the cleanup', async () => {
      const unregistered: string[] = [];
      const report = await smoke({
        registerDevice: () => new Promise<never>(() => undefined),
        unregisterDevice: async (id: string) => {
          unregistered.push(id);
        },
      });

      expect(statusOf(report.steps, 'unregister device')).toMatchObject({
        status: 'failed',
        error: 'SmokeCheckError: the registration that timed out has still not answered 200 ms later: a device labelled smoke-probe may be left registered to probe',
      });
      expect(unregistered).toEqual([]);
      expect(formatSummary(report)).toContain('cleanup incomplete (unregister device failed): remove the probe by hand');
    });

    it('deletes the probe message when its PutItem answered after "write probe message" timed out, once the put has landed', async () => {
      const order: string[] = [];
      ddb.on(PutItemCommand).callsFake(() => later(500, {}, () => order.push('put')));
      ddb.on(DeleteItemCommand).callsFake(async () => {
        order.push('delete');
        return { Attributes: { conversationId: { S: 'smoke-run-2' } } };
      });
      const report = await smoke({ registerDevice: async () => device, unregisterDevice: async () => undefined });

      expect(statusOf(report.steps, 'write probe message')).toMatchObject({ status: 'failed', error: 'StepTimeoutError: "write probe message" timed out after 400 ms' });
      expect(statusOf(report.steps, 'delete probe message')).toMatchObject({ status: 'passed', detail: 'smoke-run-2/probe-run-2 deleted from CONVO_HISTORY' });
      expect(order).toEqual(['put', 'delete']);
      expect(formatSummary(report)).toContain('cleanup done');
    });
  });
});
