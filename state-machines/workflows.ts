import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PUSH_TOPIC_PREFIX } from '../contracts/push-topic';

/**
 * The workflow plumbing in one place: where the ASL files are, which `${Placeholder}`s they hold,
 * how the placeholders are filled, and the shape of a definition. The CDK construct, the local
 * runner, the dashboard and the ASL tests all take these from here.
 */

// ---------------------------------------------------------------------------------------------
// The files and their placeholders

/** The notification fan-out workflow, the single source of truth (JSONPath). */
export const NOTIFICATION_FANOUT_ASL = join(__dirname, 'notification-fanout.asl.json');

/** Every `${Placeholder}` of the notification fan-out ASL file, as listed in `docs/workflow-contract.md`. */
export const NOTIFICATION_FANOUT_SUBSTITUTION_KEYS = [
  'ResolveRecipientsFunctionArn',
  'CheckPresenceFunctionArn',
  'DirectTopicArn',
  'TeamTopicArn',
  'SenderTopicArn',
  'QuarantineQueueUrl',
  'UnroutedQueueUrl',
  /** The outcomes queue (`contracts/outcomes.ts`): every entry's last state sends its outcome there. */
  'OutcomesQueueUrl',
  'InboxQueueUrlPrefix',
  'InboxQueueNamePrefix',
  'InboxRetentionSeconds',
  'PushTopicPrefix',
] as const;
export type NotificationFanoutSubstitutionKey = (typeof NOTIFICATION_FANOUT_SUBSTITUTION_KEYS)[number];
export type NotificationFanoutSubstitutions = Readonly<Record<NotificationFanoutSubstitutionKey, string>>;

/**
 * The placeholders whose value is a contract, the same in every deployment: filled here, so that no
 * caller writes them again.
 */
const CONTRACT_SUBSTITUTIONS = {
  PushTopicPrefix: PUSH_TOPIC_PREFIX,
} as const satisfies Partial<NotificationFanoutSubstitutions>;

/** What a deployment (the CDK stack, the local runtime, a test) provides: its resources. */
export type DeploymentSubstitutions = Omit<NotificationFanoutSubstitutions, keyof typeof CONTRACT_SUBSTITUTIONS>;

/** Every substitution of the notification fan-out workflow: the deployment's, then the contracts'. */
export const notificationFanoutSubstitutions = (deployment: DeploymentSubstitutions): NotificationFanoutSubstitutions => ({
  ...deployment,
  ...CONTRACT_SUBSTITUTIONS,
});

// ---------------------------------------------------------------------------------------------
// Substitution

export const PLACEHOLDER_PATTERN = /\$\{([^}]*)\}/g;

/** Placeholder names used in a definition's text, in order of first use. */
export const placeholdersIn = (text: string): string[] => [...new Set([...text.matchAll(PLACEHOLDER_PATTERN)].map((m) => m[1]))];

export class UnsubstitutedPlaceholderError extends Error {
  constructor(readonly names: string[]) {
    super(`no substitution for placeholder(s) ${names.map((n) => '${' + n + '}').join(', ')}`);
    this.name = 'UnsubstitutedPlaceholderError';
  }
}

export class SubstitutionNeedsEscapingError extends Error {
  constructor(
    readonly placeholder: string,
    readonly value: string,
  ) {
    super(`substitution for \${${placeholder}} needs escaping (quotes, braces, backslashes or control characters): ${value}`);
    this.name = 'SubstitutionNeedsEscapingError';
  }
}

const needsEscaping = (value: string): boolean => /["\\'{}]|\$\{/.test(value) || [...value].some((ch) => ch.charCodeAt(0) < 0x20);

/**
 * `${Name}` → value, as Step Functions does with DefinitionSubstitutions (plain text replacement).
 * Values land inside JSON strings and inside States.Format templates ('...'), so a value that would
 * need escaping in either is refused rather than silently producing another definition; so is a
 * placeholder left without a value.
 */
export const substitute = (text: string, values: Readonly<Record<string, string>>): string => {
  const missing = new Set<string>();
  const filled = text.replace(PLACEHOLDER_PATTERN, (whole, name: string) => {
    if (!Object.prototype.hasOwnProperty.call(values, name)) {
      missing.add(name);
      return whole;
    }
    const value = values[name];
    if (needsEscaping(value)) throw new SubstitutionNeedsEscapingError(name, value);
    return value;
  });
  if (missing.size > 0) throw new UnsubstitutedPlaceholderError([...missing]);
  return filled;
};

export const readDefinitionText = (path: string = NOTIFICATION_FANOUT_ASL): string => readFileSync(path, 'utf8');

/** The definition of an ASL file with its placeholders filled. */
export const loadDefinition = (values: Readonly<Record<string, string>>, path: string = NOTIFICATION_FANOUT_ASL): MachineDef =>
  JSON.parse(substitute(readDefinitionText(path), values)) as MachineDef;

// ---------------------------------------------------------------------------------------------
// The definition, as plain JSON (JSONPath states; only the fields this project reads are typed)

export interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
  Comment?: string;
}
export interface Catcher {
  ErrorEquals: string[];
  Next: string;
  ResultPath?: string | null;
  Comment?: string;
}
export interface ChoiceRule {
  Next?: string;
  Variable?: string;
  And?: ChoiceRule[];
  Or?: ChoiceRule[];
  Not?: ChoiceRule;
  [operator: string]: unknown;
}
export interface StateDef {
  Type: string;
  Comment?: string;
  QueryLanguage?: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  Next?: string;
  End?: boolean;
  Default?: string;
  Choices?: ChoiceRule[];
  Retry?: Retrier[];
  Catch?: Catcher[];
  ItemProcessor?: MachineDef;
  Iterator?: MachineDef;
  Branches?: MachineDef[];
  [field: string]: unknown;
}
export interface MachineDef {
  Comment?: string;
  QueryLanguage?: string;
  StartAt: string;
  States: Record<string, StateDef>;
  [field: string]: unknown;
}

export interface StateEntry {
  name: string;
  state: StateDef;
  /** Names of the enclosing Map / Parallel states, outermost first. */
  scope: string[];
}

/** Every state of the machine, nested Map processors and Parallel branches included, in file order. */
export const walkStates = (machine: MachineDef, scope: string[] = []): StateEntry[] =>
  Object.entries(machine.States).flatMap(([name, state]) => [
    { name, state, scope },
    ...[state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])]
      .filter((m): m is MachineDef => m !== undefined)
      .flatMap((m) => walkStates(m, [...scope, name])),
  ]);
