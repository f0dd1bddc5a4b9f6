-- Device lifecycle: deactivate up to :batch_limit active devices not seen for :stale_days days
-- (registered, or inbox drained), so the fan-out stops sending to their inboxes. The task repeats
-- it until fewer than :batch_limit rows come back, keeping each Data API response small.
-- Parameters: :stale_days, :batch_limit.
UPDATE devices
SET active = false,
  deactivated_at = now()
WHERE client_id IN (
  SELECT client_id
  FROM devices
  WHERE active
    AND last_seen_at < now() - make_interval(days => CAST(:stale_days AS integer))
  ORDER BY last_seen_at, client_id
  LIMIT :batch_limit
)
RETURNING client_id, agent_id
