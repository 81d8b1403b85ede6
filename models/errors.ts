/**
 * Every user-visible failure has a stable code (fastify's FST_ERR_… style), so callers and
 * tests match on codes, never on message text.
 */
export const ErrorCodes = {
  // policy file
  POLICY_YAML: 'RW_POLICY_YAML',
  POLICY_VERSION: 'RW_POLICY_VERSION',
  POLICY_UNKNOWN_KEY: 'RW_POLICY_UNKNOWN_KEY',
  POLICY_REQUIRED: 'RW_POLICY_REQUIRED',
  POLICY_TYPE: 'RW_POLICY_TYPE',
  POLICY_ENUM: 'RW_POLICY_ENUM',
  POLICY_RANGE: 'RW_POLICY_RANGE',
  POLICY_DURATION: 'RW_POLICY_DURATION',
  POLICY_RATE: 'RW_POLICY_RATE',
  POLICY_DUPLICATE_ID: 'RW_POLICY_DUPLICATE_ID',
  POLICY_CIDR: 'RW_POLICY_CIDR',
  POLICY_KEY_PART: 'RW_POLICY_KEY_PART',
  POLICY_ALGORITHM_PARAM: 'RW_POLICY_ALGORITHM_PARAM',
  POLICY_UNKNOWN_TIER: 'RW_POLICY_UNKNOWN_TIER',
  POLICY_GLOB: 'RW_POLICY_GLOB',
  POLICY_METHOD: 'RW_POLICY_METHOD',
  POLICY_JWT: 'RW_POLICY_JWT',
  POLICY_CLIENT_KEY: 'RW_POLICY_CLIENT_KEY',
  POLICY_FILE: 'RW_POLICY_FILE',
  // codecs
  CODEC_JSON: 'RW_CODEC_JSON',
  CODEC_VERSION: 'RW_CODEC_VERSION',
  CODEC_FIELD: 'RW_CODEC_FIELD',
  // configuration / start-up
  CONFIG_STORE: 'RW_CONFIG_STORE',
  CONFIG_ARG: 'RW_CONFIG_ARG',
  /** Identity set-up at start (JWT secret variable missing, key file unreadable). */
  CONFIG_IDENTITY: 'RW_CONFIG_IDENTITY',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class RatewardenError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'RatewardenError';
  }
}
