#!/usr/bin/env node
/**
 * CDK entry point (`cdk.json`: `npx ts-node --prefer-ts-exts infra/app.ts`).
 *
 * Context keys (all optional, `-c key=value` or `cdk.json`), validated by `readConfig`:
 * - `prefix` (default `convo-notify`): resource name prefix; inboxes are `<prefix>-inbox-<clientId>.fifo`.
 * - `convoHistoryTableName` + `convoHistoryStreamArn`: listen to an existing CONVO_HISTORY table
 *   (its stream must be NEW_AND_OLD_IMAGES) instead of creating one.
 * - `dbClusterArn` + `dbSecretArn`: use an existing Aurora cluster with the Data API enabled
 *   instead of creating Aurora Serverless v2; `dbName` (default `convo_notify`) names the database.
 * - `inboxRetentionDays` (default 4), `recipientsPageSize` (default 100),
 *   `pipeBatchSize` (default 10), `pipeParallelization` (default 1).
 * - `oidcIssuer` + `oidcAudience` (+ `oidcJwksUri`): the CRM's identity provider for agent tokens
 *   instead of the Cognito user pool the stack creates; `agentIdClaim` (default `sub`).
 * - `agentApiConcurrency`, `iotAuthorizerConcurrency` (default 10 each), `agentApiRateLimit` (50),
 *   `agentApiBurstLimit` (100), `agentApiCorsOrigins` (none), `staleDeviceDays` (30).
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
