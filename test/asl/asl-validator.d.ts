// asl-validator 4 ships JavaScript only; this is the part of its API the ASL tests use.
declare module 'asl-validator' {
  interface AslValidationError {
    'Error code': string;
    Message: string;
    [detail: string]: unknown;
  }
  interface AslValidationResult {
    isValid: boolean;
    errors: AslValidationError[];
    errorsText: (separator?: string) => string;
  }
  /** Validates a definition. Note: it adds `QueryLanguage` to every state of the object it is given. */
  function aslValidator(definition: unknown, options?: { checkPaths?: boolean; checkArn?: boolean }): AslValidationResult;
  export = aslValidator;
}
