// Placeholder until the anomalies command lands; it must never reach main.
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('ratewarden anomalies: not built yet\n');
  return 2;
}
