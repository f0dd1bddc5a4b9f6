import * as path from 'node:path';
import { Aspects, Duration, RemovalPolicy, Validations, type IAspect } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, type IConstruct } from 'constructs';
import { METRICS_NAMESPACE } from '../../tasks/shared/metrics';
import { LOG_RETENTION } from './retention';

/** A task Lambda's memory unless it says otherwise (the cost model of `npm run bench` reads it too). */
export const TASK_FUNCTION_MEMORY_MB = 256;

/** Where the task handlers live: `tasks/<name>/handler.ts`. */
export const TASKS_DIR = path.join(__dirname, '..', '..', 'tasks');

export interface TaskFunctionProps {
  /** Folder name under `tasks/`; the entry is `tasks/<taskName>/handler.ts`, export `handler`. */
  readonly taskName: string;
  /** Environment of the handler, on top of the Powertools variables and `NODE_OPTIONS`. */
  readonly environment?: Record<string, string>;
  /**
   * Maximum run time of one invocation.
   *
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * Memory; on Lambda it also buys CPU.
   *
   * @default TASK_FUNCTION_MEMORY_MB (256)
   */
  readonly memorySize?: number;
  /**
   * Reserved concurrency: at most this many concurrent invocations, so that traffic of this
   * function can never take the concurrency the pipeline's functions need.
   *
   * @default - none: the function shares the account's unreserved concurrency
   */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * The Powertools configuration of a task (tasks/shared/observability.ts): service name, metrics
 * namespace, log level, and no event logging unless the stack turns it on (TaskEventLogging).
 */
export const powertoolsEnvironment = (taskName: string): Record<string, string> => ({
  POWERTOOLS_SERVICE_NAME: taskName,
  POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
  // In the environment so that an operator can see it and lower it to DEBUG on a live function.
  POWERTOOLS_LOG_LEVEL: 'INFO',
  // The events of the workflow tasks hold message previews (customer text): logged only when
  // the context key logExecutionData is true, as the workflow and the pipe do (TaskEventLogging).
  POWERTOOLS_LOGGER_LOG_EVENT: 'false',
});

/**
 * One task Lambda with the project's defaults: Node.js 22 on arm64, bundled by the local esbuild
 * (no Docker, Powertools and the AWS SDK inside the bundle), X-Ray active tracing, Powertools
 * configured by environment, its own log group with a retention, and its own role that starts with
 * nothing but writing to that log group (EMF metrics are log lines: no cloudwatch:PutMetricData).
 * Callers add exactly what the task needs.
 */
export class TaskFunction extends Construct {
  public readonly function: NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: TaskFunctionProps) {
    super(scope, id);

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: LOG_RETENTION,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // An explicit role instead of the default one: the default attaches the managed
    // AWSLambdaBasicExecutionRole, which may write to any log group in the account.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `convo-notify task ${props.taskName}: writes its own log group, plus the grants of its task`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: path.join(TASKS_DIR, props.taskName, 'handler.ts'),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? TASK_FUNCTION_MEMORY_MB,
      timeout: props.timeout ?? Duration.seconds(10),
      role: this.role,
      logGroup: this.logGroup,
      tracing: lambda.Tracing.ACTIVE,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      description: `convo-notify task: ${props.taskName}`,
      environment: {
        ...powertoolsEnvironment(props.taskName),
        // Stack traces point into the TypeScript sources through the bundled source map.
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        minify: true,
        sourceMap: true,
        keepNames: true,
        target: 'node22',
        format: OutputFormat.CJS,
        forceDockerBundling: false,
        // The AWS SDK is bundled rather than taken from the runtime, so production runs the
        // exact client versions the tests ran against (package-lock.json).
        externalModules: [],
        // sql/queries.ts imports its queries from the .sql files, which the bundle carries as text.
        loader: { '.sql': 'text' },
      },
    });

    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to nodejs22.x on purpose: the handlers are bundled for Node 22 LTS (esbuild target node22), a runtime Lambda supports into 2027; moving to nodejs24.x is a deliberate, tested upgrade of the project, not something a library bump should do silently.',
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level permissions, so AWS requires Resource "*".',
    });
  }
}

/**
 * Whether the task Lambdas of a scope log their events (POWERTOOLS_LOGGER_LOG_EVENT): the context
 * key logExecutionData, applied to every TaskFunction of the scope, those added later included.
 * Handlers whose events carry credentials never log them (tasks/shared/observability.ts).
 */
export class TaskEventLogging implements IAspect {
  /** Applies the setting to every TaskFunction under `scope`. */
  public static applyTo(scope: IConstruct, logExecutionData: boolean): void {
    Aspects.of(scope).add(new TaskEventLogging(logExecutionData));
  }

  private constructor(private readonly logExecutionData: boolean) {}

  public visit(node: IConstruct): void {
    if (node instanceof TaskFunction) {
      node.function.addEnvironment('POWERTOOLS_LOGGER_LOG_EVENT', String(this.logExecutionData));
    }
  }
}
