/**
 * The EventBridge Pipe's filter on CONVO_HISTORY stream records: the single definition used by the
 * deployed pipe (`StreamPipe`), by the tests, and by the local runtime (through
 * `contracts/event-pattern.ts`), so the three cannot disagree.
 *
 * Only two kinds of change ever become notifications:
 * 1. a new message (`INSERT`), and
 * 2. the moment a message is first handled: a `MODIFY` whose new image has `handledBy` and whose
 *    old image does not.
 * Edits of the body, of `handledAt`, or of an already handled message, and deletions, never reach
 * the state machine, so they cost no execution.
 *
 * Pipes constraints shaping these patterns: `exists` only works on leaf fields (hence
 * `handledBy.S`, not `handledBy`), and separate entries of `FilterCriteria.Filters` are ORed.
 */
import { matchesAnyEventPattern, type EventPattern } from './event-pattern';

/** A new message. */
export const INSERT_PATTERN = {
  eventName: ['INSERT'],
} as const satisfies EventPattern;

/** The first answer: `handledBy` appears in the new image and was absent from the old one. */
export const NEWLY_HANDLED_PATTERN = {
  eventName: ['MODIFY'],
  dynamodb: {
    NewImage: { handledBy: { S: [{ exists: true }] } },
    OldImage: { handledBy: { S: [{ exists: false }] } },
  },
} as const satisfies EventPattern;

/** Every filter of the pipe, in `FilterCriteria.Filters` order (ORed). */
export const PIPE_FILTER_PATTERNS: readonly EventPattern[] = [INSERT_PATTERN, NEWLY_HANDLED_PATTERN];

/** The `FilterCriteria` of `AWS::Pipes::Pipe`: each pattern serialised as Pipes expects. */
export const pipeFilterCriteria = (): { filters: { pattern: string }[] } => ({
  filters: PIPE_FILTER_PATTERNS.map((pattern) => ({ pattern: JSON.stringify(pattern) })),
});

/** Whether the deployed pipe would pass this DynamoDB stream record on to the state machine. */
export const passesPipeFilter = (record: unknown): boolean => matchesAnyEventPattern(PIPE_FILTER_PATTERNS, record);
