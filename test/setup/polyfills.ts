import '../../local/runtime/promise-with-resolvers';

// Tests must never reach real AWS: a Task left without an override would call real Lambda.
process.env.AWS_REGION ??= 'us-east-1';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
// The local runtime runs the real handlers; their INFO lines would drown the test report. Tests
// that assert on logs set LOG_LEVEL themselves (test/support/task-env.ts).
process.env.LOG_LEVEL ??= 'WARN';
// Powertools in the handlers (tasks/shared/observability.ts): no X-Ray daemon here, and an EMF
// object per invocation would drown the report too; test/support/task-env.ts turns metrics on.
process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
