export * from './types.js';
export { parsePolicy, loadPolicyFile, formatPolicyErrors, formatPath, type ParseResult, type ParseOptions } from './parse.js';
export { normalizeClientKey } from './normalize.js';
