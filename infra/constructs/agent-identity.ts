import { Aws, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';

export interface AgentIdentityProps {
  /** Resource name prefix; the created user pool is `<prefix>-agents`. */
  readonly prefix: string;
  /**
   * The CRM's own OIDC identity provider: the exact `iss` of its agent tokens, the audience the
   * tokens carry (`aud`, or `client_id` when they have no `aud`), and its JWKS URL.
   *
   * @default - a Cognito user pool and an app client for the AgentCRM are created
   */
  readonly external?: { readonly issuer: string; readonly audience: string; readonly jwksUri: string };
  /**
   * The token claim that holds the agent id (`agents.agent_id` in the recipients database; context
   * `agentIdClaim`, whose default is from infra/config.ts DEFAULT_CONFIG).
   */
  readonly agentIdClaim: string;
}

/**
 * Who agents are (docs/access.md): the issuer, audience and keys of the JWTs that open the agent API
 * and the IoT connection. Either the CRM's own OIDC provider (context), or, so that a fresh deploy
 * works end to end, a Cognito user pool with an app client for the AgentCRM browser app: no self
 * sign-up (operators create agents), MFA required (TOTP), a 12-character password policy, SRP
 * sign-in, one-hour access tokens. Cognito access tokens carry `client_id`, not `aud`; API
 * Gateway's JWT authorizer and the IoT authorizer both accept the app client id there.
 */
export class AgentIdentity extends Construct {
  public readonly issuer: string;
  public readonly audience: string;
  public readonly jwksUri: string;
  public readonly agentIdClaim: string;
  /** Set when this stack created the pool. */
  public readonly userPool?: cognito.UserPool;
  public readonly userPoolClient?: cognito.UserPoolClient;

  constructor(scope: Construct, id: string, props: AgentIdentityProps) {
    super(scope, id);
    this.agentIdClaim = props.agentIdClaim;

    if (props.external) {
      this.issuer = props.external.issuer;
      this.audience = props.external.audience;
      this.jwksUri = props.external.jwksUri;
      return;
    }

    this.userPool = new cognito.UserPool(this, 'UserPool', {
      userPoolName: `${props.prefix}-agents`,
      selfSignUpEnabled: false,
      signInAliases: { username: true, email: true },
      signInCaseSensitive: false,
      mfa: cognito.Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      deletionProtection: true,
      // The pool holds the agents' accounts, not data this stack can recreate.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.userPool).acknowledge({
      id: 'AwsSolutions-COG8',
      reason:
        'Threat protection (advanced security) needs the Cognito Plus feature plan, billed per monthly active user; the pool has no self sign-up, requires MFA and a 12-character password policy. Enable it (featurePlan PLUS, threat protection FULL_FUNCTION) where that cost is wanted; no code depends on it.',
    });

    this.userPoolClient = this.userPool.addClient('AgentCrmClient', {
      userPoolClientName: `${props.prefix}-agentcrm`,
      generateSecret: false,
      authFlows: { userSrp: true },
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
    });

    this.issuer = `https://cognito-idp.${Aws.REGION}.${Aws.URL_SUFFIX}/${this.userPool.userPoolId}`;
    this.audience = this.userPoolClient.userPoolClientId;
    this.jwksUri = `${this.issuer}/.well-known/jwks.json`;
  }

  /** What the agent API and the IoT authorizer Lambdas need to verify agent tokens. */
  public get tokenEnvironment(): Record<string, string> {
    return {
      TOKEN_ISSUER: this.issuer,
      TOKEN_AUDIENCE: this.audience,
      JWKS_URI: this.jwksUri,
      AGENT_ID_CLAIM: this.agentIdClaim,
    };
  }
}
