import { IOT_AUTHORIZER_QUERY_PARAMETER, IOT_TOKEN_QUERY_PARAMETER } from '../contracts/agent-access';
import { InvalidClientOptionsError } from './errors';

/**
 * The MQTT-over-WebSocket URL through the stack's IoT custom authorizer: the sign-in token rides
 * in the query string (`token`), with the authorizer's name (`x-amz-customauthorizer-name`).
 * Browsers cannot set WebSocket headers, hence the query string; the authorizer never logs it.
 */
export interface AuthorizerUrlOptions {
  /**
   * The AWS IoT data endpoint host (`<id>-ats.iot.<region>.amazonaws.com`, from
   * `aws iot describe-endpoint --endpoint-type iot:Data-ATS`), or a full `ws://` / `wss://` URL
   * (a local broker).
   */
  endpoint: string;
  /** The authorizer name, `<prefix>-agent-jwt`. */
  authorizerName: string;
}

export const authorizerWebSocketUrl = (options: AuthorizerUrlOptions, token: string): string => {
  if (options.endpoint.length === 0) throw new InvalidClientOptionsError('endpoint must not be empty');
  const url = new URL(/^wss?:\/\//.test(options.endpoint) ? options.endpoint : `wss://${options.endpoint}/mqtt`);
  url.searchParams.set(IOT_AUTHORIZER_QUERY_PARAMETER, options.authorizerName);
  url.searchParams.set(IOT_TOKEN_QUERY_PARAMETER, token);
  return url.toString();
};
