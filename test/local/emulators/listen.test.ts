import { IoTDataPlaneClient, PublishCommand as IotPublishCommand } from '@aws-sdk/client-iot-data-plane';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { LocalIotData } from '../../../local/emulators/iot-data';
import { actionOf, listen, requestCounter, serviceOf, type Listening } from '../../../local/emulators/listen';
import { LocalSns } from '../../../local/emulators/sns';
import { LocalSqs } from '../../../local/emulators/sqs';

const credentials = { accessKeyId: 'a', secretAccessKey: 'b' };
const region = 'us-east-1';

describe('request counting on every local endpoint (listen)', () => {
  const open: Listening[] = [];
  const clients: { destroy(): void }[] = [];

  beforeEach(() => requestCounter.reset());
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    for (const l of open.splice(0)) await l.close();
  });

  const serve = async (handler: Parameters<typeof listen>[0], what: string) => {
    const endpoint = await listen(handler, 0, what);
    open.push(endpoint);
    return endpoint;
  };

  it('names the service after the endpoint and the action after X-Amz-Target, with the request bytes', async () => {
    let base = '';
    const sqs = new LocalSqs({ baseUrl: () => base, accountId: '000000000000' });
    const endpoint = await serve(sqs.handle, 'the SQS endpoint');
    base = endpoint.url;
    const { QueueUrl } = sqs.createQueue({ QueueName: 'counted' });
    const client = new SQSClient({ endpoint: endpoint.url, region, credentials });
    clients.push(client);
    const body = 'x'.repeat(3000);

    await client.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
    await client.send(new SendMessageCommand({ QueueUrl, MessageBody: 'small' }));

    const [tally] = requestCounter.snapshot();
    expect(tally).toMatchObject({ service: 'sqs', action: 'SendMessage', requests: 2 });
    expect(tally.maxRequestBytes).toBeGreaterThan(3000);
    expect(tally.requestBytes).toBeGreaterThan(3000 + 'small'.length);
    // Each body is counted in KiB rounded up: one of 3 or 4 KiB, one of 1 KiB.
    expect(Object.values(tally.requestKiB).reduce((a, b) => a + b, 0)).toBe(2);
    expect(tally.requestKiB[1]).toBe(1);
    expect(sqs.sent.map((s) => s.body)).toEqual([body, 'small']);
    sqs.close();
  });

  it('takes the action of a query-protocol call from the form body, and the handler still reads the whole body', async () => {
    const sns = new LocalSns();
    const endpoint = await serve(sns.handle, 'the SNS endpoint');
    const client = new SNSClient({ endpoint: endpoint.url, region, credentials });
    clients.push(client);

    await client.send(new PublishCommand({ TopicArn: 'arn:aws:sns:us-east-1:000000000000:t', Message: 'hello counted world' }));

    expect(requestCounter.snapshot()).toEqual([expect.objectContaining({ service: 'sns', action: 'Publish', requests: 1 })]);
    expect(sns.published.map((p) => p.message)).toEqual(['hello counted world']);
  });

  it('takes the action of a REST call from its method and first path segment', async () => {
    const iot = new LocalIotData(async () => undefined);
    const endpoint = await serve(iot.handle, 'the IoT data endpoint');
    const client = new IoTDataPlaneClient({ endpoint: endpoint.url, region, credentials });
    clients.push(client);
    const payload = JSON.stringify({ kind: 'message.created', preview: 'p'.repeat(500) });

    await client.send(new IotPublishCommand({ topic: 'notify/device-1', qos: 1, payload: Buffer.from(payload) }));

    const [tally] = requestCounter.snapshot();
    expect(tally).toMatchObject({ service: 'iot-data', action: 'POST /topics', requests: 1, requestBytes: Buffer.byteLength(payload) });
    expect(iot.published).toHaveLength(1);
  });

  it('counts the requests of an endpoint it has never heard of, under the name it was listened as', async () => {
    const endpoint = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    }, 'the Scheduler endpoint');

    await fetch(`${endpoint.url}/schedules/reminder-1`, { method: 'POST', body: '{"ScheduleExpression":"at(2026-01-01T00:00:00)"}' });
    await fetch(`${endpoint.url}/schedules/reminder-1`, { method: 'DELETE' });

    expect(requestCounter.snapshot()).toEqual([
      expect.objectContaining({ service: 'scheduler', action: 'DELETE /schedules', requests: 1, requestBytes: 0, responseBytes: 2 }),
      expect.objectContaining({ service: 'scheduler', action: 'POST /schedules', requests: 1 }),
    ]);
  });
});

describe('serviceOf and actionOf', () => {
  it.each([
    ['the SQS endpoint', 'sqs'],
    ['the IoT data endpoint', 'iot-data'],
    ['the Data API endpoint', 'data-api'],
    ['the DynamoDB Streams endpoint', 'dynamodb-streams'],
    ['the token issuer', 'token-issuer'],
    ['', 'unknown'],
  ])('names %j as %j', (what, service) => {
    expect(serviceOf(what)).toBe(service);
  });

  it('prefers X-Amz-Target, then Action= of the query or the form, then the REST path', () => {
    expect(actionOf('POST', '/', 'DynamoDB_20120810.BatchGetItem')).toBe('BatchGetItem');
    expect(actionOf('POST', '/', 'AWSEvents.PutEvents', 'Action=Publish')).toBe('PutEvents');
    expect(actionOf('GET', '/?Action=ListTopics', undefined)).toBe('ListTopics');
    expect(actionOf('POST', '/', undefined, 'Action=Publish&TopicArn=x')).toBe('Publish');
    expect(actionOf('POST', '/Execute', undefined)).toBe('POST /Execute');
    expect(actionOf('GET', '/', undefined)).toBe('GET /');
  });
});
