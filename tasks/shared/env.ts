import { z } from 'zod';
import { ConfigurationError } from './errors';

/**
 * Reads a handler's environment once, at cold start, and fails fast with every missing or
 * malformed variable named, instead of failing later inside a request.
 */
export const readEnv = <S extends z.ZodRawShape>(shape: S, env: NodeJS.ProcessEnv = process.env) => {
  const parsed = z.object(shape).safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigurationError(`invalid environment: ${problems}`);
  }
  return parsed.data;
};
