-- convo-notify recipients database (Aurora PostgreSQL, reached through the RDS Data API).
--
-- Who is concerned with a CONVO_HISTORY message: agents, the IoT client devices they registered,
-- the teams they belong to, and the senders they follow. The three per-topic queries
-- (recipients-*.sql) read these tables and page by keyset on (agent_id, client_id).
--
-- Idempotent: every statement can be run again. The Data API runs one statement per call; the
-- stack's schema custom resource (tasks/apply-schema) runs the statements one by one on every
-- deploy that changes this file; the Lambda bundle carries this file's text (sql/schema.ts).
--
-- Ids use the "C" collation: they are opaque ASCII, byte order is cheap and identical everywhere,
-- and the keyset comparison and ORDER BY of the queries must agree on it.

-- agent_id is the agent's id in the identity provider: the value of the token claim the stack is
-- configured with (default "sub"). The agent API and the IoT authorizer trust a token only for an
-- agent_id found here and active; the tenant always comes from this row.
CREATE TABLE IF NOT EXISTS agents (
  agent_id  text COLLATE "C" PRIMARY KEY,
  tenant_id text COLLATE "C" NOT NULL,
  active    boolean NOT NULL DEFAULT true
);

CREATE INDEX IF NOT EXISTS agents_tenant_idx ON agents (tenant_id, agent_id);

-- A client id is the device's MQTT client id, its push topic segment (notify/<client_id>) and part
-- of its inbox queue name, hence the character set; AWS IoT allows at most 128 bytes.
CREATE TABLE IF NOT EXISTS devices (
  client_id     text COLLATE "C" PRIMARY KEY CHECK (client_id ~ '^[A-Za-z0-9_-]{1,128}$'),
  agent_id      text COLLATE "C" NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
  active        boolean NOT NULL DEFAULT true,
  registered_at timestamptz NOT NULL DEFAULT now()
);

-- Serves every query's join and its keyset order: (agent_id, client_id) of active devices only.
CREATE INDEX IF NOT EXISTS devices_active_agent_client_idx ON devices (agent_id, client_id) WHERE active;

-- Agent access (docs/access.md). Added with ALTER … IF NOT EXISTS so that databases created
-- before these columns existed get them too, and re-running the file changes nothing.
-- label: the name an agent gives a device; last_seen_at: register and every inbox drain move it,
-- and devices-deactivate-stale.sql deactivates devices not seen for N days; deactivated_at: when.
ALTER TABLE devices ADD COLUMN IF NOT EXISTS label text CHECK (char_length(label) BETWEEN 1 AND 64);

ALTER TABLE devices ADD COLUMN IF NOT EXISTS last_seen_at timestamptz NOT NULL DEFAULT now();

ALTER TABLE devices ADD COLUMN IF NOT EXISTS deactivated_at timestamptz;

-- The daily stale-device sweep reads active devices by last_seen_at.
CREATE INDEX IF NOT EXISTS devices_active_last_seen_idx ON devices (last_seen_at) WHERE active;

-- Listing an agent's devices (the partial index above serves active ones only).
CREATE INDEX IF NOT EXISTS devices_agent_registered_idx ON devices (agent_id, registered_at, client_id);

CREATE TABLE IF NOT EXISTS team_members (
  team_id  text COLLATE "C" NOT NULL,
  agent_id text COLLATE "C" NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
  PRIMARY KEY (team_id, agent_id)
);

CREATE INDEX IF NOT EXISTS team_members_agent_idx ON team_members (agent_id);

-- "Which agents are concerned about messages from which senders" (the sender topic).
CREATE TABLE IF NOT EXISTS sender_subscriptions (
  tenant_id text COLLATE "C" NOT NULL,
  sender_id text COLLATE "C" NOT NULL,
  agent_id  text COLLATE "C" NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
  PRIMARY KEY (tenant_id, sender_id, agent_id)
);

CREATE INDEX IF NOT EXISTS sender_subscriptions_agent_idx ON sender_subscriptions (agent_id);
