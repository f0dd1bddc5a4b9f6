import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  INSERT_PATTERN,
  NEWLY_HANDLED_PATTERN,
  PIPE_FILTER_PATTERNS,
  passesPipeFilter,
  pipeFilterCriteria,
} from '../../contracts/pipe-filter';

const fixture = <T = Record<string, unknown>>(name: string): T =>
  JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'stream', `${name}.json`), 'utf8')) as T;

describe('pipe filter patterns', () => {
  it('are exactly the two documented patterns, in order', () => {
    expect(PIPE_FILTER_PATTERNS).toEqual([
      { eventName: ['INSERT'] },
      {
        eventName: ['MODIFY'],
        dynamodb: {
          NewImage: { handledBy: { S: [{ exists: true }] } },
          OldImage: { handledBy: { S: [{ exists: false }] } },
        },
      },
    ]);
  });

  it('serialise to the FilterCriteria the pipe is deployed with', () => {
    const criteria = pipeFilterCriteria();
    expect(criteria.filters).toHaveLength(2);
    expect(criteria.filters.map((f) => JSON.parse(f.pattern))).toEqual([INSERT_PATTERN, NEWLY_HANDLED_PATTERN]);
  });

  it('only use exists on leaf attribute-value fields (a Pipes constraint)', () => {
    const leaves = (node: unknown, path: string[] = []): [string[], unknown][] =>
      Array.isArray(node)
        ? [[path, node]]
        : Object.entries(node as Record<string, unknown>).flatMap(([k, v]) => leaves(v, [...path, k]));
    for (const pattern of PIPE_FILTER_PATTERNS) {
      for (const [path, matchers] of leaves(pattern)) {
        if ((matchers as unknown[]).some((m) => typeof m === 'object' && m !== null && 'exists' in m)) {
          expect(['S', 'N', 'BOOL', 'NULL']).toContain(path[path.length - 1]);
        }
      }
    }
  });
});

describe('passesPipeFilter on CONVO_HISTORY stream records', () => {
  it.each([
    ['insert-direct', true, 'a new message'],
    ['modify-handled-direct', true, 'the first answer: handledBy newly set'],
    ['modify-already-handled', false, 'handledBy already in the old image (re-claim, handledAt edit)'],
    ['modify-body-edited', false, 'an edit of the body'],
    ['modify-handled-by-removed', false, 'handledBy removed'],
    ['modify-handled-by-null', false, 'handledBy written as a NULL attribute, not a string'],
    ['remove', false, 'a deleted message'],
  ])('%s → %s (%s)', (name, expected) => {
    expect(passesPipeFilter(fixture(name))).toBe(expected);
  });
});

describe('passesPipeFilter on the AWS documentation sample', () => {
  // The INSERT / MODIFY / REMOVE sample records of the DynamoDB stream event shown in
  // "Amazon DynamoDB stream as a source for EventBridge Pipes" (and the Lambda DynamoDB docs).
  const sample = fixture<{ eventID: string; eventName: string }[]>('aws-docs-lambda-sample');

  it('passes the INSERT and nothing else', () => {
    expect(sample.map((record) => [record.eventName, passesPipeFilter(record)])).toEqual([
      ['INSERT', true],
      ['MODIFY', false],
      ['REMOVE', false],
    ]);
  });
});
