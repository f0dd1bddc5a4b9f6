import { PUSH_TOPIC_PREFIX } from '../../contracts/push-topic';
import {
  loadDefinition,
  NOTIFICATION_FANOUT_SUBSTITUTION_KEYS,
  notificationFanoutSubstitutions,
  placeholdersIn,
  readDefinitionText,
  substitute,
  SubstitutionNeedsEscapingError,
  UnsubstitutedPlaceholderError,
  walkStates,
} from '../../state-machines/workflows';
import { SUBSTITUTIONS } from '../asl/harness';

describe('state-machines/workflows: placeholder substitution', () => {
  it('fills every ${Placeholder} of the file', () => {
    expect(placeholdersIn(readDefinitionText()).sort()).toEqual(Object.keys(SUBSTITUTIONS).sort());
    expect(JSON.stringify(loadDefinition(SUBSTITUTIONS))).not.toContain('${');
  });

  it('types exactly the placeholders of the notification fan-out file as its substitution keys', () => {
    expect([...NOTIFICATION_FANOUT_SUBSTITUTION_KEYS].sort()).toEqual(placeholdersIn(readDefinitionText()).sort());
  });

  it('refuses to leave a placeholder unsubstituted, and names it', () => {
    const partial: Record<string, string> = { ...SUBSTITUTIONS };
    delete partial.InboxRetentionSeconds;
    delete partial.TeamTopicArn;
    expect(() => loadDefinition(partial)).toThrow(UnsubstitutedPlaceholderError);
    expect(() => loadDefinition(partial)).toThrow('${TeamTopicArn}, ${InboxRetentionSeconds}');
  });

  it('refuses a value that would need escaping inside a JSON string or a States.Format template', () => {
    expect(() => substitute('"${A}"', { A: "it's" })).toThrow('needs escaping');
    expect(() => substitute('"${A}"', { A: 'a"b' })).toThrow('needs escaping');
    expect(() => substitute('"${A}"', { A: 'x{}' })).toThrow('needs escaping');
    expect(() => substitute('"${A}"', { A: 'a\\b' })).toThrow(SubstitutionNeedsEscapingError);
    expect(substitute('"${A}-${A}"', { A: 'arn:aws:sns:us-east-1:123456789012:t' })).toBe('"arn:aws:sns:us-east-1:123456789012:t-arn:aws:sns:us-east-1:123456789012:t"');
  });

  it('takes the local endpoints as they are (http URLs with a port)', () => {
    const url = 'http://127.0.0.1:43121/000000000000/convo-notify-inbox-';
    expect(substitute("\"States.Format('${P}{}.fifo', $.id)\"", { P: url })).toBe(`"States.Format('${url}{}.fifo', $.id)"`);
  });

  it('fills PushTopicPrefix from contracts/push-topic.ts, whoever provides the deployment values', () => {
    const { PushTopicPrefix, ...deployment } = SUBSTITUTIONS;
    expect(PushTopicPrefix).toBe(PUSH_TOPIC_PREFIX);
    expect(notificationFanoutSubstitutions(deployment).PushTopicPrefix).toBe(PUSH_TOPIC_PREFIX);
    const push = walkStates(loadDefinition(SUBSTITUTIONS)).find((s) => s.name === 'PushToDevice')!;
    expect(push.state.Parameters).toMatchObject({ 'Topic.$': `States.Format('${PUSH_TOPIC_PREFIX}{}', $.device.clientId)` });
  });
});
