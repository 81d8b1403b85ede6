/**
 * `ratewarden` — one binary, several programs (DESIGN.md "Commands").
 * Each subcommand lives in cli/commands/<name>.ts and is loaded only when used, so `check`
 * and `key-id` start fast and never load TensorFlow, Kafka or Redis clients.
 */
import { RatewardenError } from '../models/errors.js';

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  demo: { summary: 'all-in-one demo: upstream, sidecar on :8080, analyzer + UI on :9090', load: async () => (await import('./commands/demo.js')).run },
  sidecar: { summary: 'the sidecar: --config F --upstream URL [--listen H:P] [--admin H:P]', load: async () => (await import('./commands/sidecar.js')).run },
  analyzer: { summary: 'the analyzer: --config F [--listen H:P]', load: async () => (await import('./commands/analyzer.js')).run },
  check: { summary: 'validate a policy file: exit 0, or 2 with every error and its path', load: async () => (await import('./commands/check.js')).run },
  replay: { summary: 'backtest: [--detector NAME] FILE.csv → one anomaly score per row', load: async () => (await import('./commands/replay.js')).run },
  anomalies: { summary: 'operator CLI: anomalies list|show|confirm|dismiss|approve', load: async () => (await import('./commands/anomalies.js')).run },
  blocks: { summary: 'operator CLI: blocks list|add|remove', load: async () => (await import('./commands/blocks.js')).run },
  'key-id': { summary: 'print the id an API key has outside the sidecar (uses RW_HASH_KEY)', load: async () => (await import('./commands/keyId.js')).run },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: ratewarden <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name) {
    // no command is a usage error: the usage goes to stderr, like every other usage error
    process.stderr.write(usage());
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  if (name === '--version' || name === '-v') {
    const { existsSync, readFileSync } = await import('node:fs');
    // dist/cli/main.js when built, cli/main.ts when run from source (tsx): the package is one level further up in the first
    const file = [new URL('../../package.json', import.meta.url), new URL('../package.json', import.meta.url)].find((u) => {
      try {
        return existsSync(u) && (JSON.parse(readFileSync(u, 'utf8')) as { name?: string }).name === 'ratewarden';
      } catch {
        return false;
      }
    });
    if (!file) throw new Error('package.json of ratewarden not found');
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { version: string };
    process.stdout.write(pkg.version + '\n');
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`ratewarden: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return (await command.load())(rest);
}

/** Why a listener could not be opened, in words (the OS error codes `listen` fails with). */
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this host',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EPERM: 'operation not permitted',
};

/**
 * A start-up failure that is the configuration's fault, not a bug — a listen address in use, not on
 * this host or not allowed, a listen host name that does not resolve — as one line; null otherwise.
 */
function listenProblem(err: unknown): string | null {
  const e = err as (NodeJS.ErrnoException & { address?: unknown; port?: unknown; hostname?: unknown }) | null;
  if (!e || typeof e !== 'object' || typeof e.code !== 'string') return null;
  if ((e.syscall === 'listen' || e.syscall === 'bind') && e.code in LISTEN_ERRORS) {
    const host = typeof e.address === 'string' ? (e.address.includes(':') ? `[${e.address}]` : e.address) : '';
    const where = typeof e.port === 'number' ? `${host}:${e.port}` : host;
    return `cannot listen on ${where || 'the requested address'}: ${LISTEN_ERRORS[e.code]}`;
  }
  if (e.syscall === 'getaddrinfo' && e.code === 'ENOTFOUND' && typeof e.hostname === 'string') return `cannot resolve ${e.hostname}: no such host`;
  return null;
}

main(process.argv.slice(2)).then(
  (code) => {
    // long-running commands resolve only when they stop; short ones exit with their code
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    let code: number;
    const listen = listenProblem(err);
    if (err instanceof RatewardenError) {
      // the code stays on the message's line; what follows it (a usage, a list of errors) after it
      const [first, ...rest] = err.message.split('\n');
      process.stderr.write(`ratewarden: ${first} [${err.code}]\n${rest.map((l) => l + '\n').join('')}`);
      code = 2;
    } else if (listen) {
      // a listen address in use, not on this host or not allowed is a configuration error
      process.stderr.write(`ratewarden: ${listen}\n`);
      code = 2;
    } else {
      process.stderr.write(`ratewarden: ${(err as Error)?.stack ?? String(err)}\n`);
      code = 1;
    }
    // a failed start may leave clients behind (a Redis client reconnecting, a Kafka consumer):
    // nothing is running any more, so stop here instead of waiting for them
    process.exit(code);
  },
);
