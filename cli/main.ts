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
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
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

main(process.argv.slice(2)).then(
  (code) => {
    // long-running commands resolve only when they stop; short ones exit with their code
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof RatewardenError) {
      process.stderr.write(`ratewarden: ${err.message} [${err.code}]\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`ratewarden: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
