import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AWS_LIMITS, payloadBytes } from '../../contracts/limits';
import { CORS_HEADERS, handlePreflight, readBody } from './http-util';

/**
 * A local SNS endpoint for the AWS Query protocol @aws-sdk/client-sns uses. Only `Publish` is
 * implemented; every publish is recorded per topic so tests and the dashboard can show it. A
 * message over SNS's size limit (the message plus its attributes) is refused as SNS refuses it.
 */
export interface RecordedSnsMessage {
  messageId: string;
  topicArn: string;
  message: string;
  /** The `Subject` (e-mail subscribers' subject line), when the publisher gave one. */
  subject?: string;
  attributes: Record<string, string>;
}

const xmlEscape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const reply = (res: ServerResponse, status: number, xml: string) => {
  res.writeHead(status, { ...CORS_HEADERS, 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml) });
  res.end(xml);
};

const errorXml = (code: string, message: string) =>
  `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>${code}</Code>` +
  `<Message>${xmlEscape(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;

export class LocalSns {
  readonly published: RecordedSnsMessage[] = [];

  byTopic(topicArn: string): RecordedSnsMessage[] {
    return this.published.filter((p) => p.topicArn === topicArn);
  }

  readonly handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (handlePreflight(req, res)) return;
    const form = new URLSearchParams((await readBody(req)).toString('utf8'));
    const action = form.get('Action');
    if (action !== 'Publish') {
      reply(res, 400, errorXml('InvalidAction', `${action ?? '(none)'} is not implemented by the local SNS endpoint`));
      return;
    }
    const topicArn = form.get('TopicArn') ?? form.get('TargetArn');
    const message = form.get('Message');
    if (!topicArn || !/^arn:aws[a-z-]*:sns:[^:]+:\d{12}:[A-Za-z0-9_-]+$/.test(topicArn)) {
      reply(res, 400, errorXml('InvalidParameter', 'Invalid parameter: TopicArn'));
      return;
    }
    if (message === null || message.length === 0) {
      reply(res, 400, errorXml('InvalidParameter', 'Invalid parameter: Empty message'));
      return;
    }
    const attributes: Record<string, string> = {};
    // SNS counts each attribute's name, data type and value with the message.
    let size = payloadBytes(message);
    for (let i = 1; form.has(`MessageAttributes.entry.${i}.Name`); i++) {
      const name = form.get(`MessageAttributes.entry.${i}.Name`)!;
      const value = form.get(`MessageAttributes.entry.${i}.Value.StringValue`) ?? '';
      attributes[name] = value;
      size += payloadBytes(name) + payloadBytes(form.get(`MessageAttributes.entry.${i}.Value.DataType`) ?? '') + payloadBytes(value);
    }
    if (size > AWS_LIMITS.snsMessageBytes) {
      reply(res, 400, errorXml('InvalidParameter', 'Invalid parameter: Message too long'));
      return;
    }
    const subject = form.get('Subject') ?? undefined;
    // SNS: "ASCII text that begins with a letter, number, or punctuation mark; must not include line breaks or control characters; and must be less than 100 characters long."
    if (subject !== undefined && !/^[\x21-\x7e][\x20-\x7e]{0,98}$/.test(subject)) {
      reply(res, 400, errorXml('InvalidParameter', 'Invalid parameter: Subject'));
      return;
    }
    const messageId = randomUUID();
    this.published.push({ messageId, topicArn, message, ...(subject !== undefined && { subject }), attributes });
    reply(
      res,
      200,
      `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${messageId}</MessageId>` +
        `</PublishResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`,
    );
  };
}
