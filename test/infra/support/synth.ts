import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from '../../../infra/app';
import type { ConvoNotifyStack } from '../../../infra/convo-notify-stack';

export const REPO_ROOT = join(__dirname, '..', '..', '..');

/** The feature flags of `cdk.json`, so the tests synthesise what `cdk synth` synthesises. */
const CDK_JSON_CONTEXT = (JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: object }).context;

export interface Synthesized {
  readonly app: App;
  readonly stack: ConvoNotifyStack;
  readonly template: Template;
  /** The cloud assembly directory (assets, validation report). */
  readonly assemblyDir: string;
}

/**
 * Builds the app exactly as `infra/app.ts` does (cdk-nag included) with extra context, and
 * synthesises it. `bundle: false` skips esbuild (`aws:cdk:bundling-stacks: []`) for tests that
 * only look at the template.
 */
export const synthesize = (context: Record<string, unknown> = {}, options: { bundle?: boolean } = {}): Synthesized => {
  const app = new App({
    context: {
      ...CDK_JSON_CONTEXT,
      ...(options.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : {}),
      ...context,
    },
  });
  const { stack } = buildApp(app);
  const template = Template.fromStack(stack);
  return { app, stack, template, assemblyDir: app.synth().directory };
};

export interface NagFinding {
  readonly rule: string;
  readonly severity: string;
  readonly path: string;
}

/**
 * Runs the AwsSolutions pack over the synthesised tree. With `honourAcknowledgments: false` it
 * reports what the stack would be flagged for without any acknowledgment (cdk-nag offers no switch
 * for that, so its acknowledgment lookup is replaced on this one pack instance).
 */
export const nagFindings = (app: App, honourAcknowledgments = true): NagFinding[] => {
  const pack = new AwsSolutionsChecks(undefined, { verbose: true });
  if (!honourAcknowledgments) {
    (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  }
  return pack.validateScope(app).violations.flatMap((violation) =>
    violation.violatingResources.map((resource) => ({
      rule: violation.ruleName,
      severity: violation.severity ?? 'error',
      path: resource.constructPath ?? '',
    })),
  );
};

export interface Acknowledgment {
  readonly id: string;
  readonly reason: string;
  readonly path: string;
}

/** Every `Validations.of(x).acknowledge(...)` of the tree, with the construct it was made on. */
export const acknowledgments = (app: App): Acknowledgment[] =>
  app.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === 'aws:cdk:acknowledged-rules')
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          // aws-cdk-lib records acknowledgments under an `Annotation::` namespace; cdk-nag strips it.
          id: id.replace(/^annotation::/i, ''),
          reason,
          path: construct.node.path,
        })),
      ),
  );

export interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: unknown;
  readonly Sid?: string;
}

/** Every identity-policy statement of the template, with the logical id of the policy or role. */
export const identityStatements = (template: Template): { owner: string; statement: Statement }[] => {
  const out: { owner: string; statement: Statement }[] = [];
  for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
    for (const statement of policy.Properties.PolicyDocument.Statement as Statement[]) out.push({ owner: id, statement });
  }
  for (const [id, role] of Object.entries(template.findResources('AWS::IAM::Role'))) {
    for (const inline of (role.Properties.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]) {
      for (const statement of inline.PolicyDocument.Statement) out.push({ owner: id, statement });
    }
  }
  return out;
};

export const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** The logical id of the one resource of `type` whose logical id starts with `prefix`. */
export const logicalId = (template: Template, type: string, prefix: string): string => {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} named ${prefix}*, found ${ids.join(', ') || 'none'}`);
  return ids[0];
};

/** The statements of the DefaultPolicy attached to the role `roleLogicalId`. */
export const roleStatements = (template: Template, roleLogicalId: string): Statement[] =>
  Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => (policy.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleLogicalId))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);

/** CloudFormation `Ref` and `Fn::GetAtt … Arn` of a logical id, as templates write them. */
export const ref = (id: string) => ({ Ref: id });
export const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

type DashboardBodyPart = string | { Ref: string } | { 'Fn::GetAtt': [string, string] };
// Tokens become `{{LogicalId}}` / `{{LogicalId.Attribute}}`, so the body parses as the JSON it is.
const placeholder = (part: DashboardBodyPart): string =>
  typeof part === 'string' ? part : 'Ref' in part ? `{{${part.Ref}}}` : `{{${part['Fn::GetAtt'].join('.')}}}`;

export interface DashboardWidget {
  readonly type: string;
  readonly properties: { readonly title?: string; readonly markdown?: string; readonly alarms?: string[]; readonly metrics?: unknown[][] };
}

/** The widgets of the template's one CloudWatch dashboard, read from its DashboardBody. */
export const dashboardWidgets = (template: Template): DashboardWidget[] => {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  if (dashboards.length !== 1) throw new Error(`expected one dashboard, found ${dashboards.length}`);
  const [, parts] = dashboards[0].Properties.DashboardBody['Fn::Join'] as [string, DashboardBodyPart[]];
  return (JSON.parse(parts.map(placeholder).join('')) as { widgets: DashboardWidget[] }).widgets;
};
