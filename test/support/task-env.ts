/**
 * The environment the task Lambdas read once at module load. Test files import this module
 * before any handler, so the handlers see it at their cold start.
 */
export const TASK_ENV = {
  DB_CLUSTER_ARN: 'arn:aws:rds:us-east-1:123456789012:cluster:convo-notify-recipients',
  DB_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:convo-notify-recipients-AbCdEf',
  DB_NAME: 'recipients',
  PAGE_SIZE: '3',
  INBOX_QUEUE_NAME_PREFIX: 'convo-notify-inbox-',
  PRESENCE_TABLE_NAME: 'convo-notify-presence',
  DEVICE_REGISTRY_TABLE_NAME: 'convo-notify-device-registry',
  // Read by Powertools Logger (the alias of POWERTOOLS_LOG_LEVEL): the tests assert on INFO and DEBUG lines.
  LOG_LEVEL: 'DEBUG',
  // test/setup/polyfills.ts turns metrics off for the suite; the task tests assert on the EMF output.
  POWERTOOLS_METRICS_DISABLED: 'false',
} as const;

Object.assign(process.env, TASK_ENV);
