/**
 * The MQTT topic a device receives its pushes on, `notify/<clientId>` (docs/design.md §3 "IoT push").
 * One definition for whoever needs it: the presence handlers (a device is online only when subscribed
 * to it), the device IoT policy, the AgentCRM client, the local broker's subscribe rule.
 */
export const PUSH_TOPIC_PREFIX = 'notify/';

export const pushTopicOf = (clientId: string): string => `${PUSH_TOPIC_PREFIX}${clientId}`;
