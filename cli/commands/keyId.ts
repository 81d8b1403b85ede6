import { apiKeyAsRead, apiKeyId } from '../../models/clientKey.js';

/** `ratewarden key-id KEY`: the form of an API key that appears outside the sidecar. */
const USAGE = 'usage: ratewarden key-id KEY   (or - to read the key from stdin, keeping it out of shell history; also for a key that starts with -)';

export async function run(argv: string[]): Promise<number> {
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  // trimmed, from stdin as from an argument: the sidecar trims the key it reads and takes a blank one as none
  const key = (argv[0] === '-' ? await readStdin() : argv[0])?.trim();
  if (!key || argv.length > 1 || (argv[0] !== '-' && key.startsWith('-'))) {
    process.stderr.write(USAGE + '\n');
    return 2;
  }
  // a key no request can carry has no id a sidecar would ever form
  const read = apiKeyAsRead(key);
  if ('problem' in read) {
    process.stderr.write(`ratewarden key-id: ${read.problem}\n`);
    return 2;
  }
  process.stdout.write(`apiKey:${apiKeyId(read.key)}\n`);
  return 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
