import { apiKeyId } from '../../models/clientKey.js';

/** `ratewarden key-id KEY`: the form of an API key that appears outside the sidecar. */
export async function run(argv: string[]): Promise<number> {
  const key = argv[0] === '-' ? (await readStdin()).trim() : argv[0];
  if (!key || argv.length > 1) {
    process.stderr.write('usage: ratewarden key-id KEY   (or - to read the key from stdin, keeping it out of shell history)\n');
    return 2;
  }
  process.stdout.write(`apiKey:${apiKeyId(key)}\n`);
  return 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
