import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { LocalEndpointsSchema, STACK_OUTPUT_KEYS, type LocalEndpoints, type StackOutputName } from '../contracts/stack-outputs';

/**
 * Where a deployment's parts are, for the operations tools: the one place that reads a
 * `cdk deploy --outputs-file` JSON (`{ "<stack>": { "<OutputKey>": value } }`, the keys of
 * contracts/stack-outputs.ts), the local runtime's outputs file (the same shape plus an
 * `endpoints` section), and flags that name a value directly. A flag wins over the file.
 */

/** The default file `npm start` writes its outputs to, relative to the working directory. */
export const LOCAL_OUTPUTS_FILE = '.local/outputs.json';

export class OutputsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputsError';
  }
}

export type StackOutputs = Partial<Record<StackOutputName, string>>;

export interface Locations {
  outputs: StackOutputs;
  /** Local endpoints (the local runtime's outputs file); empty on AWS. */
  endpoints: LocalEndpoints;
  /** From the file's `region`, else the state machine ARN's region. */
  region?: string;
  /** Which stack of the file was read, when a file was read. */
  stackName?: string;
}

const OutputsFileSchema = z.record(z.string(), z.unknown());

/** The region of an ARN (`arn:aws:states:<region>:...`), or undefined when it is not an ARN. */
export const regionOfArn = (arn: string | undefined): string | undefined => {
  const region = arn?.split(':')[3];
  return region ? region : undefined;
};

/**
 * Parses an outputs file's text. With several stacks in it, `stackName` must say which; the local
 * runtime's file also has top-level `endpoints` and `region`.
 */
export const parseOutputsFile = (text: string, source: string, stackName?: string): Locations => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new OutputsError(`${source} is not JSON: ${(error as Error).message}`);
  }
  const file = OutputsFileSchema.safeParse(json);
  if (!file.success) throw new OutputsError(`${source} is not an outputs file: expected { "<stack>": { "<OutputKey>": value } }`);
  const { endpoints: rawEndpoints, region: rawRegion, ...stacks } = file.data;
  const names = Object.keys(stacks);
  const name = stackName ?? (names.length === 1 ? names[0] : undefined);
  if (name === undefined) {
    throw new OutputsError(names.length === 0 ? `${source} holds no stack` : `${source} holds several stacks (${names.join(', ')}): choose one with --stack`);
  }
  const stack = stacks[name];
  if (typeof stack !== 'object' || stack === null) throw new OutputsError(`${source} has no stack "${name}" (it has ${names.join(', ') || 'none'})`);
  const values = stack as Record<string, unknown>;
  const outputs: StackOutputs = {};
  for (const [field, key] of Object.entries(STACK_OUTPUT_KEYS) as [StackOutputName, string][]) {
    const value = values[key];
    if (typeof value === 'string' && value !== '') outputs[field] = value;
  }
  const endpoints = LocalEndpointsSchema.safeParse(rawEndpoints ?? {});
  if (!endpoints.success) throw new OutputsError(`${source}: "endpoints" must map ${Object.keys(LocalEndpointsSchema.shape).join(', ')} to URLs`);
  const region = typeof rawRegion === 'string' ? rawRegion : regionOfArn(outputs.stateMachineArn);
  return { outputs, endpoints: endpoints.data, region, stackName: name };
};

export const readOutputsFile = (path: string, stackName?: string): Locations => {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new OutputsError(`cannot read the outputs file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseOutputsFile(text, path, stackName);
};

export interface LocationOverrides {
  outputs?: StackOutputs;
  endpoints?: LocalEndpoints;
  region?: string;
}

/** Flags over the file (or no file at all: flags alone). */
export const resolveLocations = (file: Locations | undefined, overrides: LocationOverrides = {}): Locations => {
  const defined = <T extends object>(o: T | undefined): Partial<T> =>
    Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined && v !== '')) as Partial<T>;
  const outputs = { ...file?.outputs, ...defined(overrides.outputs) };
  return {
    outputs,
    endpoints: { ...file?.endpoints, ...defined(overrides.endpoints) },
    region: overrides.region ?? file?.region ?? regionOfArn(outputs.stateMachineArn),
    ...(file?.stackName !== undefined && { stackName: file.stackName }),
  };
};

/** The value of one output, or an error naming the output key and the flag that sets it. */
export const requireOutput = (locations: Locations, name: StackOutputName, flag: string): string => {
  const value = locations.outputs[name];
  if (value === undefined) {
    throw new OutputsError(`no ${STACK_OUTPUT_KEYS[name]}: pass --outputs <cdk outputs file> or ${flag}`);
  }
  return value;
};

/** The local runtime's outputs file: the stack's output keys, its region and its local endpoints. */
export const localOutputsDocument = (
  stackName: string,
  outputs: Record<StackOutputName, string>,
  region: string,
  endpoints: Required<LocalEndpoints>,
): Record<string, unknown> => ({
  [stackName]: Object.fromEntries((Object.entries(STACK_OUTPUT_KEYS) as [StackOutputName, string][]).map(([field, key]) => [key, outputs[field]])),
  region,
  endpoints,
});
