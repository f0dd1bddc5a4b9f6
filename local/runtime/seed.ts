import { Sha256 } from '@aws-crypto/sha256-js';
import type { PGlite } from '@electric-sql/pglite';
import { CLIENT_ID_NONCE_HEX, ownerHashOf } from '../../contracts/agent-access';
import schemaSql from '../../sql/schema.sql';

/**
 * Recipients data for the local runtime: the real `sql/schema.sql`, then agents, devices, team
 * membership and sender subscriptions.
 *
 * Seeded devices have client ids of the issued form `<owner hash>-<nonce>` (contracts/agent-access.ts),
 * as the register route would have given them, or the IoT authorizer would refuse them; the nonce
 * is derived from the device's label instead of being random, so the ids are the same on every
 * start and in every test: `seededClientId('alice', 'laptop')`.
 */

export interface SeedAgent {
  agentId: string;
  name: string;
  /** The labels of the agent's devices (`laptop`, `phone`); see `seededDevices` for their client ids. */
  devices: string[];
  teams?: string[];
  /** Senders whose messages this agent follows (the `sender` topic). */
  follows?: string[];
  active?: boolean;
}

export interface SeedData {
  tenantId: string;
  agents: SeedAgent[];
}

/** Four agents, five devices, two teams and one followed customer: enough to see every topic. */
export const DEMO_DATA: SeedData = {
  tenantId: 'acme',
  agents: [
    { agentId: 'alice', name: 'Alice', devices: ['laptop', 'phone'], teams: ['support'], follows: ['customer-vip'] },
    { agentId: 'bob', name: 'Bob', devices: ['laptop'], teams: ['support'] },
    { agentId: 'carol', name: 'Carol', devices: ['laptop'], teams: ['support', 'sales'], follows: ['customer-vip'] },
    { agentId: 'dave', name: 'Dave', devices: ['laptop'], teams: ['sales'] },
  ],
};

/** `agents` agents with `devicesPerAgent` devices each, all in team `everyone` and following `customer-1`. */
export const generatedData = (agents: number, devicesPerAgent: number, tenantId = 'bench'): SeedData => ({
  tenantId,
  agents: Array.from({ length: agents }, (_, a) => {
    const agentId = `agent-${String(a).padStart(4, '0')}`;
    return {
      agentId,
      name: agentId,
      devices: Array.from({ length: devicesPerAgent }, (_, d) => `dev-${d}`),
      teams: ['everyone'],
      follows: ['customer-1'],
    };
  }),
});

const LABEL_NONCE_DOMAIN = 'convo-notify/local-seed-device/v1:';

/**
 * The client id of the agent's seeded device with this label: the agent's owner hash, so the IoT
 * authorizer and the agent API take it as the agent's own, and 16 hex characters of a SHA-256 of
 * the label as the nonce (deterministic; the register route draws it at random).
 */
export const seededClientId = (agentId: string, label: string): string => {
  const hash = new Sha256();
  hash.update(new TextEncoder().encode(`${LABEL_NONCE_DOMAIN}${label}`));
  const nonce = Array.from(hash.digestSync(), (b) => b.toString(16).padStart(2, '0'))
    .join('')
    .slice(0, CLIENT_ID_NONCE_HEX);
  return `${ownerHashOf(agentId)}-${nonce}`;
};

export interface SeededDevice {
  clientId: string;
  agentId: string;
  label: string;
}

/**
 * Every seeded device with its agent and label: what the agent API's register route would have
 * written to `devices` and to the device registry table, so record-presence takes the seeded
 * devices' lifecycle events.
 */
export const seededDevices = (data: SeedData): SeededDevice[] =>
  data.agents.flatMap((agent) => agent.devices.map((label) => ({ clientId: seededClientId(agent.agentId, label), agentId: agent.agentId, label })));

/** The seeded device of an agent by its label; throws naming both when there is none. */
export const seededDevice = (data: SeedData, agentId: string, label: string): SeededDevice => {
  const device = seededDevices(data).find((d) => d.agentId === agentId && d.label === label);
  if (device === undefined) throw new Error(`the seed has no device labelled ${label} of agent ${agentId}`);
  return device;
};

export const seedRecipients = async (db: PGlite, data: SeedData): Promise<void> => {
  await db.exec(schemaSql);
  await db.transaction(async (tx) => {
    for (const agent of data.agents) {
      await tx.query('INSERT INTO agents (agent_id, tenant_id, active) VALUES ($1, $2, $3) ON CONFLICT (agent_id) DO NOTHING', [
        agent.agentId,
        data.tenantId,
        agent.active ?? true,
      ]);
      for (const label of agent.devices) {
        await tx.query('INSERT INTO devices (client_id, agent_id, label) VALUES ($1, $2, $3) ON CONFLICT (client_id) DO NOTHING', [
          seededClientId(agent.agentId, label),
          agent.agentId,
          label,
        ]);
      }
      for (const team of agent.teams ?? []) {
        await tx.query('INSERT INTO team_members (team_id, agent_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [team, agent.agentId]);
      }
      for (const sender of agent.follows ?? []) {
        await tx.query('INSERT INTO sender_subscriptions (tenant_id, sender_id, agent_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
          data.tenantId,
          sender,
          agent.agentId,
        ]);
      }
    }
  });
};
