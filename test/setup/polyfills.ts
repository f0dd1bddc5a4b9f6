import '../../local/promise-with-resolvers';

// Tests must never reach real AWS: a Task left without an override would call real Lambda.
process.env.AWS_REGION ??= 'us-east-1';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
