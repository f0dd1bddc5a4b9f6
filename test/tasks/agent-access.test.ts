import { pushTopicOf } from '../../contracts/push-topic';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { CLIENT_ID_PATTERN, clientIdProblem } from '../../contracts/naming';
import { CLIENT_ID_LENGTH, iotPrincipalIdOf, isClientIdOf, issueClientId, ownerHashOf, parseClientId } from '../../contracts/agent-access';

/** The client id format the register route issues and the IoT authorizer checks without a database. */

const issue = (agentId: string) => issueClientId(agentId, (n) => randomBytes(n));

describe('agent-access: client ids', () => {
  it('issues ids owned by their agent only', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 128 }), fc.string({ minLength: 1, maxLength: 128 }), (a, b) => {
        const id = issue(a);
        expect(isClientIdOf(id, a)).toBe(true);
        if (ownerHashOf(a) !== ownerHashOf(b)) expect(isClientIdOf(id, b)).toBe(false);
      }),
    );
  });

  it('issues a fresh id on every call', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => issue('agent-a')));
    expect(ids.size).toBe(1000);
  });

  it('issues ids that are valid MQTT client ids, wildcard-free topic segments and inbox names for the longest prefix', () => {
    const id = issue('agent-a');
    expect(id).toHaveLength(CLIENT_ID_LENGTH);
    expect(id).toMatch(CLIENT_ID_PATTERN);
    expect(clientIdProblem(id, `${'p'.repeat(32)}-inbox-`)).toBeUndefined();
    expect(pushTopicOf(id)).toBe(`notify/${id}`);
    expect(iotPrincipalIdOf(id)).toMatch(/^[a-zA-Z0-9]{1,128}$/);
  });

  it('tells an agent id apart from one that differs in case or by a trailing space', () => {
    const id = issue('Agent-A');
    expect(isClientIdOf(id, 'agent-a')).toBe(false);
    expect(isClientIdOf(id, 'Agent-A ')).toBe(false);
  });

  it.each([
    ['', /missing/],
    ['#', /33 characters, got 1/],
    ['a'.repeat(200), /33 characters, got 200/],
    [`${'a'.repeat(16)}+${'b'.repeat(16)}`, /<16 hex>-<16 hex>/],
    [`${'A'.repeat(16)}-${'b'.repeat(16)}`, /<16 hex>-<16 hex>/],
    [`${'a'.repeat(16)}-${'b'.repeat(15)} `, /<16 hex>-<16 hex>/],
    [`${'a'.repeat(16)}-${'b'.repeat(15)}/`, /<16 hex>-<16 hex>/],
  ])('names what is wrong with %j', (clientId, problem) => {
    const parsed = parseClientId(clientId);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? '' : parsed.problem).toMatch(problem);
  });

  it('refuses a non-string client id', () => {
    expect(parseClientId(undefined)).toEqual({ ok: false, problem: 'client id is missing' });
    expect(parseClientId(42)).toEqual({ ok: false, problem: 'client id is missing' });
  });
});
