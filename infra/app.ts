#!/usr/bin/env node
/**
 * CDK entry point (`cdk.json`: `npx ts-node --prefer-ts-exts infra/app.ts`).
 *
 * Context keys (all optional, `-c key=value` or `cdk.json`) are validated by `readConfig`; the
 * README's "Deploy" table is where they are documented.
 *
 * Every synth runs the cdk-nag AwsSolutions checks (`docs/infra.md` lists each acknowledged
 * finding and why): an unacknowledged error fails the synth, a warning is printed in its report.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readConfig } from './config';
import { ConvoNotifyStack } from './convo-notify-stack';

export const buildApp = (app: App = new App()): { app: App; stack: ConvoNotifyStack } => {
  const config = readConfig(app.node);
  const stack = new ConvoNotifyStack(app, 'ConvoNotify', { config });
  // cdk-nag 3 is a policy validation plugin, not an aspect; acknowledgments are also written into
  // the template metadata (`cdk_nag`) so that they can be audited from the template alone.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }));
  return { app, stack };
};

if (require.main === module) {
  buildApp().app.synth();
}
