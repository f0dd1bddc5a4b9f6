import { parseOptions } from '../../local/main';
import { UsageError } from '../../ops/cli';

describe('npm start --answer-within-seconds', () => {
  it('takes the answer timer from the flag, else from CONVO_ANSWER_WITHIN_SECONDS, and leaves the default to the stack otherwise', () => {
    expect(parseOptions(['--answer-within-seconds', '30'], { CONVO_ANSWER_WITHIN_SECONDS: '90' }).answerWithinSeconds).toBe(30);
    expect(parseOptions([], { CONVO_ANSWER_WITHIN_SECONDS: '0' }).answerWithinSeconds).toBe(0);
    expect(parseOptions([], {})).not.toHaveProperty('answerWithinSeconds');
  });

  it('refuses anything but whole seconds, naming where the value came from', () => {
    expect(() => parseOptions(['--answer-within-seconds', '2.5'], {})).toThrow(UsageError);
    expect(() => parseOptions(['--answer-within-seconds=-1'], {})).toThrow('--answer-within-seconds must be a whole number of seconds (0 = off), got "-1"');
    expect(() => parseOptions([], { CONVO_ANSWER_WITHIN_SECONDS: 'soon' })).toThrow('CONVO_ANSWER_WITHIN_SECONDS must be a whole number');
  });
});
