import type { IncomingMessage, ServerResponse } from 'node:http';
import { AWS_LIMITS } from '../../contracts/limits';
import { handlePreflight, readBody, sendJson } from './http-util';

/**
 * A local AWS IoT data-plane endpoint (REST-JSON, as @aws-sdk/client-iot-data-plane speaks it)
 * that implements `Publish` by handing the message to the embedded MQTT broker. A payload over
 * IoT Core's publish limit is refused with 413 RequestEntityTooLargeException, as IoT refuses it.
 */
export type BrokerPublish = (topic: string, payload: Buffer, qos: 0 | 1) => Promise<void>;

export interface RecordedPublish {
  topic: string;
  qos: 0 | 1;
  payload: string;
  at: number;
}

const errorReply = (res: ServerResponse, status: number, type: string, message: string) =>
  sendJson(res, status, { message }, 'application/json', { 'x-amzn-errortype': type });

export class LocalIotData {
  readonly published: RecordedPublish[] = [];

  constructor(private readonly publish: BrokerPublish) {}

  readonly handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (handlePreflight(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = /^\/topics\/(.+)$/.exec(url.pathname);
    if (req.method !== 'POST' || !match) {
      await readBody(req);
      errorReply(res, 405, 'MethodNotAllowedException', `${req.method} ${url.pathname} is not implemented by the local IoT data endpoint`);
      return;
    }
    const topic = decodeURIComponent(match[1]);
    const qosParam = url.searchParams.get('qos') ?? '0';
    if (qosParam !== '0' && qosParam !== '1') {
      await readBody(req);
      errorReply(res, 400, 'InvalidRequestException', `qos must be 0 or 1, got ${qosParam}`);
      return;
    }
    if (/[+#]/.test(topic) || topic.length === 0) {
      await readBody(req);
      errorReply(res, 400, 'InvalidRequestException', `cannot publish to a topic filter: ${topic}`);
      return;
    }
    const payload = await readBody(req);
    if (payload.length > AWS_LIMITS.iotPublishPayloadBytes) {
      errorReply(res, 413, 'RequestEntityTooLargeException', 'The payload exceeds the maximum size allowed');
      return;
    }
    const qos = Number(qosParam) as 0 | 1;
    try {
      await this.publish(topic, payload, qos);
    } catch (err) {
      errorReply(res, 503, 'ServiceUnavailableException', (err as Error).message);
      return;
    }
    this.published.push({ topic, qos, payload: payload.toString('utf8'), at: Date.now() });
    sendJson(res, 200, {});
  };
}
