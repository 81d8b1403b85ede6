import { parseArgs } from 'node:util';
import { formatPolicyErrors, loadPolicyFile } from '../../models/policy/index.js';

/** `ratewarden check FILE [--quiet] [--json]`: exit 0 when valid, 2 with every error otherwise. */
const USAGE = 'usage: ratewarden check FILE [--quiet] [--json]';

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { quiet: { type: 'boolean', short: 'q' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    process.stderr.write(`ratewarden check: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(USAGE + '\n');
    return 2;
  }
  const file = positionals[0]!;
  const result = loadPolicyFile(file);
  if (values.json) {
    process.stdout.write(JSON.stringify(result.ok ? { ok: true, warnings: result.warnings } : { ok: false, errors: result.errors, warnings: result.warnings }, null, 2) + '\n');
    return result.ok ? 0 : 2;
  }
  for (const w of result.warnings) process.stderr.write(`${file}: warning: ${w}\n`);
  if (!result.ok) {
    process.stderr.write(formatPolicyErrors(result.errors, file) + '\n');
    process.stderr.write(`${file}: ${result.errors.length} error${result.errors.length === 1 ? '' : 's'}\n`);
    return 2;
  }
  if (!values.quiet) {
    const p = result.policy;
    process.stdout.write(`${file}: ok (${p.rules.length} rule${p.rules.length === 1 ? '' : 's'}, store ${p.store.kind}/${p.store.failMode}, tiers ${Object.keys(p.tiers).join(', ')})\n`);
  }
  return 0;
}
