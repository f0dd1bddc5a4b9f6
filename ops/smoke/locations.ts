import { readFileSync } from 'node:fs';
import { STACK_OUTPUT_KEYS } from '../../contracts/stack-outputs';
import { OutputsError } from '../outputs';

/**
 * What the smoke needs beyond ops/outputs.ts (which reads the outputs the replay needs): the stack
 * outputs of agent access and presence, and the local endpoints of the agent API, the broker and
 * the dev token issuer. Read from the same outputs file (the stack's section, and the local
 * runtime's `endpoints` section), by the same stack name.
 */

/** CfnOutput ids the stack declares (infra/convo-notify-stack.ts) that the smoke reads. */
export const SMOKE_OUTPUT_KEYS = {
  agentApiUrl: STACK_OUTPUT_KEYS.agentApiUrl,
  iotAuthorizerName: STACK_OUTPUT_KEYS.iotAuthorizerName,
  presenceTableName: STACK_OUTPUT_KEYS.presenceTableName,
} as const;

/** Keys of the local outputs file's `endpoints` section that the smoke reads (LocalStack.endpoints names). */
export const SMOKE_ENDPOINT_KEYS = { agentApi: 'agentApi', mqttWs: 'mqttWs', tokenIssuer: 'tokenIssuer' } as const;

export type SmokeOutputs = Partial<Record<keyof typeof SMOKE_OUTPUT_KEYS, string>>;
export type SmokeEndpoints = Partial<Record<keyof typeof SMOKE_ENDPOINT_KEYS, string>>;

const stringsOf = <K extends string>(section: unknown, keys: Record<K, string>): Partial<Record<K, string>> => {
  const values = typeof section === 'object' && section !== null ? (section as Record<string, unknown>) : {};
  const found: Partial<Record<K, string>> = {};
  for (const [field, key] of Object.entries(keys) as [K, string][]) {
    const value = values[key];
    if (typeof value === 'string' && value !== '') found[field] = value;
  }
  return found;
};

/** The smoke's outputs of `stackName` and the file's local endpoints (the file was already read by ops/outputs.ts). */
export const parseSmokeOutputs = (text: string, stackName: string | undefined): { outputs: SmokeOutputs; endpoints: SmokeEndpoints } => {
  const json = JSON.parse(text) as Record<string, unknown>;
  return {
    outputs: stackName === undefined ? {} : stringsOf(json[stackName], SMOKE_OUTPUT_KEYS),
    endpoints: stringsOf(json.endpoints, SMOKE_ENDPOINT_KEYS),
  };
};

export const readSmokeOutputs = (path: string, stackName: string | undefined): { outputs: SmokeOutputs; endpoints: SmokeEndpoints } => {
  try {
    return parseSmokeOutputs(readFileSync(path, 'utf8'), stackName);
  } catch (error) {
    throw new OutputsError(`cannot read the outputs file ${path}: ${(error as Error).message}`);
  }
};
