import { GetItemCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownerHashOf } from '../../contracts/agent-access';
import { CONVO_HISTORY_TABLE } from '../../contracts/tables';
import { writeLocalOutputs } from '../../local/runtime/outputs-file';
import { DEMO_DATA } from '../../local/runtime/seed';
import { LOCAL_CREDENTIALS, startLocalStack, type LocalStack } from '../../local/runtime/stack';
import { main } from '../../ops/smoke/main';
import type { SmokeReport } from '../../ops/smoke/smoke';

/**
 * `npm run smoke` against the local runtime: the outputs file is the one `npm start` writes (the
 * stack's output keys and the local endpoints); the probe agent is a seeded agent with no devices
 * of its own.
 */

const PROBE = 'smoke-probe';

describe('npm run smoke on the local runtime', () => {
  let stack: LocalStack;
  let ddb: DynamoDBClient;
  let dir: string;
  let outputsFile: string;

  beforeAll(async () => {
    stack = await startLocalStack({
      retryIntervalMs: 0,
      pipeBatchingWindowMs: 5,
      seed: { tenantId: 'acme', agents: [...DEMO_DATA.agents, { agentId: PROBE, name: 'Smoke probe', devices: [], teams: [] }] },
    });
    ddb = new DynamoDBClient({ endpoint: stack.endpoints.dynamodb, region: stack.config.region, credentials: LOCAL_CREDENTIALS });
    dir = mkdtempSync(join(tmpdir(), 'smoke-test-'));
    outputsFile = writeLocalOutputs(stack, join(dir, 'outputs.json'));
  });
  afterAll(async () => {
    ddb.destroy();
    rmSync(dir, { recursive: true, force: true });
    await stack.settle();
    await stack.stop();
  });

  const run = async (argv: string[], env: Record<string, string | undefined> = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t), env });
    const json = out.find((t) => t.startsWith('{'));
    return { code, out: out.join('\n'), err: err.join('\n'), report: json === undefined ? undefined : (JSON.parse(json) as SmokeReport) };
  };

  const probeItemOf = async (report: SmokeReport) =>
    (
      await ddb.send(
        new GetItemCommand({
          TableName: stack.config.convoHistoryTable,
          Key: { [CONVO_HISTORY_TABLE.partitionKey]: { S: report.probe.conversationId }, [CONVO_HISTORY_TABLE.sortKey]: { S: report.probe.messageId } },
          ConsistentRead: true,
        }),
      )
    ).Item;

  /** Client ids in the device registry that belong to `agentId`. */
  const registeredDevicesOf = async (agentId: string): Promise<string[]> => {
    const { Items = [] } = await ddb.send(new ScanCommand({ TableName: stack.config.deviceRegistryTable, ConsistentRead: true }));
    return Items.map((i) => i.clientId?.S ?? '').filter((id) => id.startsWith(`${ownerHashOf(agentId)}-`));
  };

  const devicesOfApi = async (agentId: string) => {
    const { token } = await stack.tokens.mint(agentId);
    const response = await fetch(`${stack.endpoints.agentApi}/devices`, { headers: { authorization: `Bearer ${token}` } });
    return ((await response.json()) as { devices: { clientId: string; active: boolean }[] }).devices;
  };

  it('passes every step with a dev-issuer sign-in and leaves no device, inbox or item behind', async () => {
    const { code, out, report } = await run(['--local', '--outputs', outputsFile, '--agent-id', PROBE, '--tenant-id', 'acme', '--step-timeout-ms', '15000', '--json']);

    expect(report).toBeDefined();
    expect(report!.steps.map((s) => [s.name, s.status])).toEqual([
      ['sign in', 'passed'],
      ['register device', 'passed'],
      ['connect MQTT', 'passed'],
      ['subscribe', 'passed'],
      ['device online', 'passed'],
      ['write probe message', 'passed'],
      ['pushed as new', 'passed'],
      ['in the inbox', 'passed'],
      ['claim', 'passed'],
      ['pushed as handled', 'passed'],
      ['handled in the inbox', 'passed'],
      ['ack inbox', 'passed'],
      ['disconnect', 'passed'],
      ['unregister device', 'passed'],
      ['delete probe message', 'passed'],
    ]);
    expect(code).toBe(0);
    expect(report!.ok).toBe(true);
    expect(report!.steps.find((s) => s.name === 'in the inbox')?.detail).toMatch(/#created after \d+ read\(s\), \d+ ms after the write; acked \(1 deleted\)$/);
    expect(report!.steps.find((s) => s.name === 'handled in the inbox')?.detail).toMatch(/#handled after \d+ read\(s\), \d+ ms after the claim; acked \(1 deleted\)$/);
    expect(report!.steps.find((s) => s.name === 'ack inbox')?.detail).toBe('nothing left unacked (2 acked as they arrived)');
    expect(out).toMatch(/^ {2}ok {3}register device +\d+ ms /m);
    expect(out).toContain('smoke passed: 11/11 checks and the cleanup');

    const clientId = report!.probe.clientId!;
    expect(await registeredDevicesOf(PROBE)).toEqual([]);
    expect((await devicesOfApi(PROBE)).filter((d) => d.clientId === clientId && d.active)).toEqual([]);
    expect(stack.sqs.queueNames().some((name) => name.includes(clientId))).toBe(false);
    expect(await probeItemOf(report!)).toBeUndefined();
  });

  it('fails at the first step for a token of an agent that is not in the recipients database, and writes nothing', async () => {
    const { token } = await stack.tokens.mint('ghost');
    const { code, out, report } = await run(['--outputs', outputsFile, '--agent-id', 'ghost', '--tenant-id', 'acme', '--json'], { SMOKE_TOKEN: token });

    expect(code).toBe(1);
    expect(report!.steps[0]).toMatchObject({ name: 'register device', status: 'failed' });
    expect(report!.steps[0].error).toMatch(/403 AgentNotActive: agent ghost is not an active agent/);
    expect(report!.steps.slice(1).every((s) => s.status === 'skipped')).toBe(true);
    expect(out).toContain('smoke FAILED at "register device"');
    expect(await probeItemOf(report!)).toBeUndefined();
    expect(await registeredDevicesOf('ghost')).toEqual([]);
  });

  it('fails at "connect MQTT" when the broker is not there, and still unregisters the device', async () => {
    const { code, out, report } = await run(
      ['--local', '--outputs', outputsFile, '--agent-id', PROBE, '--tenant-id', 'acme', '--iot-endpoint', 'ws://127.0.0.1:9/mqtt', '--step-timeout-ms', '5000', '--json'],
    );

    expect(code).toBe(1);
    const byName = Object.fromEntries(report!.steps.map((s) => [s.name, s]));
    expect(byName['register device'].status).toBe('passed');
    expect(byName['connect MQTT'].status).toBe('failed');
    expect(byName['connect MQTT'].error).toMatch(/no MQTT connection through authorizer convo-notify-local-agent-jwt: .*ECONNREFUSED/);
    expect(byName['write probe message']).toMatchObject({ status: 'skipped', detail: 'an earlier step failed' });
    expect(byName['unregister device'].status).toBe('passed');
    expect(byName['delete probe message']).toMatchObject({ status: 'skipped', detail: 'nothing was written' });
    expect(out).toContain('smoke FAILED at "connect MQTT"');
    expect(out).toContain('cleanup done');
    expect(await registeredDevicesOf(PROBE)).toEqual([]);
    expect(await probeItemOf(report!)).toBeUndefined();
  });

  it.each([
    ['no --agent-id', ['--outputs', 'x.json', '--tenant-id', 'acme', '--local'], '--agent-id is required'],
    ['an unknown flag', ['--agent-id', 'a', '--tenant-id', 'acme', '--frobnicate'], "Unknown option '--frobnicate'"],
    ['a step timeout that is not a number', ['--agent-id', 'a', '--tenant-id', 'acme', '--step-timeout-ms', 'soon'], '--step-timeout-ms must be a whole number'],
    ['no token and no --local', ['--agent-id', 'a', '--tenant-id', 'acme', '--api-url', 'http://127.0.0.1:9'], 'no sign-in token'],
  ])('exits 2 with a usage error for %s', async (_case, argv, message) => {
    const { code, out, err } = await run(argv);
    expect(code).toBe(2);
    expect(err).toContain(message);
    expect(err).toContain('Usage: npm run smoke');
    expect(out).toBe('');
  });
});
