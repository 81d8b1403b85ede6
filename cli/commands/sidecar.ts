// Placeholder until the sidecar command lands; it must never reach main.
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('ratewarden sidecar: not built yet\n');
  return 2;
}
