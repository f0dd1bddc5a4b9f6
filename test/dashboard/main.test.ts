import { spawn } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { authorizerWebSocketUrl } from '../../client/iot-authorizer-url';
import type { DashboardConfig } from '../../local/dashboard/types';
import { DEFAULT_DASHBOARD_PORT, parseOptions } from '../../local/main';
import { UsageError } from '../../ops/cli';

const ROOT = join(__dirname, '..', '..');

describe('npm start options', () => {
  it('uses the defaults: dashboard on 4280, every stack endpoint on a free port', () => {
    expect(parseOptions([], {})).toEqual({ dashboardPort: DEFAULT_DASHBOARD_PORT, ports: {}, verbose: false, help: false });
  });

  it('takes ports from flags first, then from CONVO_* variables', () => {
    const options = parseOptions(['--port', '8080', '--mqtt-ws-port=9001', '--sqs-port', '0'], {
      CONVO_PORT: '7000',
      CONVO_MQTT_PORT: '1883',
      CONVO_DYNAMODB_PORT: '8000',
      CONVO_SNS_PORT: '',
    });
    expect(options.dashboardPort).toBe(8080);
    expect(options.ports).toEqual({ mqtt: 1883, mqttWs: 9001, sqs: 0, dynamodb: 8000 });
  });

  it('takes the Step Functions, DynamoDB Streams, EventBridge and Scheduler ports from flags and CONVO_* variables too', () => {
    const options = parseOptions(['--sfn-port', '8083', '--eventbridge-port=8084'], { CONVO_DYNAMODB_STREAMS_PORT: '8085', CONVO_SCHEDULER_PORT: '8086' });
    expect(options.ports).toEqual({ sfn: 8083, eventBridge: 8084, dynamodbStreams: 8085, scheduler: 8086 });
  });

  it.each([
    [['--port', 'http'], {}, '--port must be a port number from 0 to 65535, got "http"'],
    [[], { CONVO_IOT_DATA_PORT: '70000' }, 'CONVO_IOT_DATA_PORT must be a port number from 0 to 65535, got "70000"'],
    [['--bogus'], {}, "Unknown option '--bogus'"],
    [['extra'], {}, "Unexpected argument 'extra'"],
  ])('rejects %j %j', (argv, env, message) => {
    expect(() => parseOptions(argv, env)).toThrow(UsageError);
    expect(() => parseOptions(argv, env)).toThrow(message);
  });
});

/** Runs `local/main.ts` as `npm start` does, collecting its output. */
const start = (args: string[]) => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CONVO_')));
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'local/main.ts', ...args], {
    cwd: ROOT,
    env: { ...env, LOG_LEVEL: 'WARN' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor = async (pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(out.stdout);
      if (match) return match;
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`no ${pattern} in the output (exit ${child.exitCode}):\n${out.stdout}\n${out.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { child, out, exited, waitFor };
};

describe('npm start', () => {
  let busy: Server;
  const running: ReturnType<typeof start>[] = [];

  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const r of running) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    await new Promise((resolve) => busy.close(resolve));
  });

  it('names a busy port and the option that changes it, and exits with 1', async () => {
    const port = (busy.address() as AddressInfo).port;
    const run = start(['--port', '0', '--mqtt-ws-port', String(port)]);
    running.push(run);
    expect(await run.exited).toBe(1);
    expect(run.out.stderr).toContain(
      `error: port ${port} for MQTT over WebSocket is already in use; choose another with --mqtt-ws-port or CONVO_MQTT_WS_PORT (0 = any free port)`,
    );
  }, 60_000);

  it('starts the stack and the dashboard, prints the URL, each sign-in, each device connection through the authorizer and each refusal, and stops cleanly on Ctrl-C', async () => {
    const run = start(['--port', '0']);
    running.push(run);
    const [, url] = await run.waitFor(/Open (http:\/\/127\.0\.0\.1:\d+\/)/, 150_000);
    expect(run.out.stdout).toMatch(/MQTT \(WebSocket\)\s+ws:\/\/127\.0\.0\.1:\d+\/mqtt/);
    expect(run.out.stdout).toMatch(/Agent API\s+http:\/\/127\.0\.0\.1:\d+/);
    expect(run.out.stdout).toMatch(/Token issuer\s+http:\/\/127\.0\.0\.1:\d+ \(dev sign-in: POST http:\/\/127\.0\.0\.1:\d+\/dev\/token\)/);
    const response = await fetch(new URL('/api/config', url));
    expect(response.status).toBe(200);
    const config = (await response.json()) as DashboardConfig;

    // Sign Alice in as the page does, and connect her laptop through the authorizer: both are printed.
    const signedIn = await fetch(config.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agentId: 'alice' }) });
    const { token } = (await signedIn.json()) as { token: string };
    await run.waitFor(/· token issuer: signed in alice until \S+/, 10_000);
    const laptop = config.agents.find((a) => a.agentId === 'alice')!.devices.find((d) => d.label === 'laptop')!;
    const device = mqtt.connect(authorizerWebSocketUrl({ endpoint: config.iotEndpoint, authorizerName: config.authorizerName }, token), {
      clientId: laptop.clientId,
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    await new Promise<void>((resolve, reject) => {
      device.once('connect', () => resolve());
      device.once('error', reject);
    });
    await run.waitFor(new RegExp(`· device alice's laptop \\(${laptop.clientId}\\) connected through the authorizer ${config.authorizerName}`), 10_000);
    await device.endAsync();
    await run.waitFor(new RegExp(`· device alice's laptop \\(${laptop.clientId}\\) disconnected`), 10_000);

    // An impersonation attempt (Alice's token, Bob's device) is refused, and printed as refused.
    const bobs = config.agents.find((a) => a.agentId === 'bob')!.devices[0];
    const impostor = mqtt.connect(authorizerWebSocketUrl({ endpoint: config.iotEndpoint, authorizerName: config.authorizerName }, token), {
      clientId: bobs.clientId,
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    await new Promise<void>((resolve) => impostor.once('error', () => resolve()));
    impostor.end(true);
    await run.waitFor(new RegExp(`· broker: refused websocket connection of ${bobs.clientId}: `), 10_000);

    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.out.stdout).toContain('SIGINT: stopping');
    expect(run.out.stdout).toContain('stopped');
    await expect(fetch(new URL('/api/config', url))).rejects.toThrow();
  }, 180_000);
});
