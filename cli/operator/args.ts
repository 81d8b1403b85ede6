/** Shared flag handling for the operator commands (`--url`, `--token-file`, `--as`, `--json`). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ApiError, UsageError } from './client.js';

export const COMMON_OPTIONS = {
  url: { type: 'string' },
  'token-file': { type: 'string' },
  as: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export const COMMON_USAGE = `common options:
  --url URL          analyzer address (env RW_ANALYZER_URL, default http://127.0.0.1:9090)
  --token-file FILE  read the bearer token from FILE (default: env RW_ADMIN_TOKEN)
  --as NAME          who you are, recorded in report history (env RW_OPERATOR, default your login)
  --json             machine-readable output
exit codes: 0 ok, 1 API error, 2 usage error`;

export function parse<O extends NonNullable<ParseArgsConfig['options']>>(argv: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...argv], options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Runs a command body, mapping failures to the contract's exit codes and messages on stderr. */
export async function runCommand(name: string, usage: string, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`ratewarden ${name}: ${err.message}\n\n${usage}\n`);
      return 2;
    }
    if (err instanceof ApiError) {
      process.stderr.write(`ratewarden ${name}: ${err.describe()}\n`);
      return 1;
    }
    throw err;
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
