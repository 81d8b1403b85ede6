export * from './types.js';
export { parsePolicy, loadPolicyFile, MAX_POLICY_BYTES, policyTooLarge, formatPolicyErrors, formatPath, type ParseResult, type ParseOptions } from './parse.js';
export { readPolicyFile, readPolicyFileSync, policyFileError, NOT_UTF8, type PolicyFileRead } from './file.js';
export { normalizeClientKey } from './normalize.js';
