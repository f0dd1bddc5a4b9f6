import { Aws, Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import { Construct } from 'constructs';
import { iotAuthorizerNameOf } from '../../contracts/naming';
import type { AgentIdentity } from './agent-identity';
import { TaskFunction } from './task-function';

export interface IotAuthorizerProps {
  /** Resource name prefix; the authorizer is `<prefix>-agent-jwt`. */
  readonly prefix: string;
  /** Whose tokens open a device connection. */
  readonly identity: AgentIdentity;
  /**
   * Reserved concurrency of the authorizer Lambda: a connection storm is throttled here instead of
   * taking the concurrency the pipeline's Lambdas need (context `iotAuthorizerConcurrency`; its
   * default is from infra/config.ts DEFAULT_CONFIG).
   */
  readonly reservedConcurrency: number;
}

/**
 * The AWS IoT custom authorizer for AgentCRM browsers: an MQTT-over-WebSocket connection carries
 * the agent's JWT in its URL's query string (signing disabled: a browser cannot sign a token with an
 * authorizer key), and `tasks/iot-authorizer` answers with a policy for that one device: connect as
 * its client id, subscribe to and receive `notify/<clientId>`, until the token expires.
 */
export class IotAuthorizer extends Construct {
  public readonly function: TaskFunction;
  public readonly authorizer: iot.CfnAuthorizer;
  public readonly authorizerName: string;

  constructor(scope: Construct, id: string, props: IotAuthorizerProps) {
    super(scope, id);
    this.authorizerName = iotAuthorizerNameOf(props.prefix);

    this.function = new TaskFunction(this, 'Function', {
      taskName: 'iot-authorizer',
      // AWS IoT waits 5 s for an authorizer; a verification with cached keys takes milliseconds.
      timeout: Duration.seconds(5),
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment: {
        ...props.identity.tokenEnvironment,
        IOT_ARN_PREFIX: `arn:${Aws.PARTITION}:iot:${Aws.REGION}:${Aws.ACCOUNT_ID}`,
      },
    });

    this.authorizer = new iot.CfnAuthorizer(this, 'Authorizer', {
      authorizerName: this.authorizerName,
      authorizerFunctionArn: this.function.function.functionArn,
      signingDisabled: true,
      status: 'ACTIVE',
      enableCachingForHttp: false,
    });

    this.function.function.addPermission('InvokedByIotAuthorizer', {
      principal: new iam.ServicePrincipal('iot.amazonaws.com'),
      action: 'lambda:InvokeFunction',
      sourceArn: this.authorizer.attrArn,
      sourceAccount: Aws.ACCOUNT_ID,
    });
  }
}
