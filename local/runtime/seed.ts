import type { PGlite } from '@electric-sql/pglite';
import schemaSql from '../../sql/schema.sql';

/**
 * Recipients data for the local runtime: the real `sql/schema.sql`, then agents, devices, team
 * membership and sender subscriptions.
 */

export interface SeedAgent {
  agentId: string;
  name: string;
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
    { agentId: 'alice', name: 'Alice', devices: ['alice-laptop', 'alice-phone'], teams: ['support'], follows: ['customer-vip'] },
    { agentId: 'bob', name: 'Bob', devices: ['bob-laptop'], teams: ['support'] },
    { agentId: 'carol', name: 'Carol', devices: ['carol-laptop'], teams: ['support', 'sales'], follows: ['customer-vip'] },
    { agentId: 'dave', name: 'Dave', devices: ['dave-laptop'], teams: ['sales'] },
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
      devices: Array.from({ length: devicesPerAgent }, (_, d) => `${agentId}-dev-${d}`),
      teams: ['everyone'],
      follows: ['customer-1'],
    };
  }),
});

/**
 * Every seeded device with its agent: what the agent API's register route would have written to
 * the device registry table, so record-presence takes the seeded devices' lifecycle events.
 */
export const seededDevices = (data: SeedData): { clientId: string; agentId: string }[] =>
  data.agents.flatMap((agent) => agent.devices.map((clientId) => ({ clientId, agentId: agent.agentId })));

export const seedRecipients = async (db: PGlite, data: SeedData): Promise<void> => {
  await db.exec(schemaSql);
  await db.transaction(async (tx) => {
    for (const agent of data.agents) {
      await tx.query('INSERT INTO agents (agent_id, tenant_id, active) VALUES ($1, $2, $3) ON CONFLICT (agent_id) DO NOTHING', [
        agent.agentId,
        data.tenantId,
        agent.active ?? true,
      ]);
      for (const clientId of agent.devices) {
        await tx.query('INSERT INTO devices (client_id, agent_id) VALUES ($1, $2) ON CONFLICT (client_id) DO NOTHING', [clientId, agent.agentId]);
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
