import '../../local/runtime/promise-with-resolvers';

// Tests must never reach real AWS: a Task left without an override would call real Lambda.
process.env.AWS_REGION ??= 'us-east-1';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
// The local runtime runs the real handlers; their INFO lines would drown the test report. Tests
// that assert on logs set LOG_LEVEL themselves (test/support/task-env.ts).
process.env.LOG_LEVEL ??= 'WARN';
