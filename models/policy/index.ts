export * from './types.js';
export { parsePolicy, loadPolicyFile, MAX_POLICY_BYTES, policyTooLarge, formatPolicyErrors, formatPath, type ParseResult, type ParseOptions } from './parse.js';
export { normalizeClientKey } from './normalize.js';
