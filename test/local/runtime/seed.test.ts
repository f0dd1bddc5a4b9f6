import { PGlite } from '@electric-sql/pglite';
import { isClientIdOf, parseClientId } from '../../../contracts/agent-access';
import { DEMO_DATA, generatedData, seededClientId, seededDevice, seededDevices, seedRecipients } from '../../../local/runtime/seed';

/**
 * The seed's devices get client ids of the issued form, derived from the agent and the label, so
 * the IoT authorizer and the agent API take them as the agent's own and every start has the same ids.
 */

describe('local seed devices', () => {
  it('derives an issued client id of the agent from the label, the same on every call', () => {
    const id = seededClientId('alice', 'laptop');
    expect(parseClientId(id)).toEqual({ ok: true, ownerHash: id.split('-')[0] });
    expect(isClientIdOf(id, 'alice')).toBe(true);
    expect(isClientIdOf(id, 'bob')).toBe(false);
    expect(seededClientId('alice', 'laptop')).toBe(id);
    expect(seededClientId('alice', 'phone')).not.toBe(id);
    expect(seededClientId('bob', 'laptop').split('-')[1]).toBe(id.split('-')[1]);
  });

  it('lists every seeded device with its agent and label, with distinct ids', () => {
    const devices = seededDevices(DEMO_DATA);
    expect(devices.map((d) => [d.agentId, d.label])).toEqual([
      ['alice', 'laptop'],
      ['alice', 'phone'],
      ['bob', 'laptop'],
      ['carol', 'laptop'],
      ['dave', 'laptop'],
    ]);
    expect(devices.every((d) => d.clientId === seededClientId(d.agentId, d.label))).toBe(true);
    const generated = seededDevices(generatedData(50, 3));
    expect(new Set(generated.map((d) => d.clientId)).size).toBe(150);
    expect(() => seededDevice(DEMO_DATA, 'bob', 'phone')).toThrow('the seed has no device labelled phone of agent bob');
  });

  it('writes the issued ids and the labels to the recipients devices table', async () => {
    const db = await PGlite.create();
    try {
      await seedRecipients(db, DEMO_DATA);
      const { rows } = await db.query<{ client_id: string; agent_id: string; label: string }>('SELECT client_id, agent_id, label FROM devices ORDER BY agent_id, label');
      expect(rows).toEqual(seededDevices(DEMO_DATA).map((d) => ({ client_id: d.clientId, agent_id: d.agentId, label: d.label })));
    } finally {
      await db.close();
    }
  });
});
