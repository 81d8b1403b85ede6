/**
 * Errors of the operator API as RFC 9457 problem+json bodies with a stable `error` code, so the
 * CLI and the UI match on codes, never on message text.
 */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export type ProblemCode = 'bad_request' | 'unauthorized' | 'forbidden' | 'not_found' | 'conflict' | 'api_disabled' | 'unavailable' | 'internal';

const TITLES: Record<ProblemCode, string> = {
  bad_request: 'Bad request',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  not_found: 'Not found',
  conflict: 'Conflict',
  api_disabled: 'Operator API disabled',
  unavailable: 'Service unavailable',
  internal: 'Internal error',
};

export interface FieldError {
  /** `body.ttl`, `querystring.limit`, … */
  readonly path: string;
  readonly message: string;
}

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly error: ProblemCode;
  readonly detail?: string;
  readonly errors?: readonly FieldError[];
}

export function problem(status: number, error: ProblemCode, detail?: string, errors?: readonly FieldError[]): Problem {
  return { type: 'about:blank', title: TITLES[error], status, error, ...(detail ? { detail } : {}), ...(errors ? { errors } : {}) };
}

/** Thrown by handlers; the plugin's error handler turns it into the problem body. */
export class ProblemError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title);
    this.name = 'ProblemError';
  }
}

export function fail(status: number, error: ProblemCode, detail?: string, errors?: readonly FieldError[]): never {
  throw new ProblemError(problem(status, error, detail, errors));
}
