import type { z } from 'zod';

/**
 * Named errors carry one field (what an operator looks at first in the quarantine queue) and a
 * message that still lists every problem, so one look at a bad record is enough to fix it.
 */
export interface ValidationProblem {
  /** Dotted path of the first offending field, with `prefix` in front (e.g. `NewImage.createdAt`). */
  field: string;
  /** Every issue, `path: message`, separated by `; `. */
  message: string;
}

const dotted = (prefix: string, path: readonly PropertyKey[]): string =>
  [prefix, ...path.map(String)].filter((part) => part !== '').join('.');

export const describeZodError = (error: z.ZodError, prefix = ''): ValidationProblem => {
  const [first] = error.issues;
  const field = first === undefined ? prefix : dotted(prefix, first.path);
  const message = error.issues.map((issue) => `${dotted(prefix, issue.path) || '(root)'}: ${issue.message}`).join('; ');
  return { field: field || '(root)', message };
};
