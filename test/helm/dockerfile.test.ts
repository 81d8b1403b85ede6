/**
 * The Dockerfile, checked without a Docker engine: multi-stage, non-root, no secrets in the build
 * context or the image, every copied path exists and passes .dockerignore, the entrypoint is the
 * compiled CLI the charts' args are written for, and the runtime assets package.json ships are
 * carried into the image.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import picomatch from 'picomatch';
import { ROOT } from '../helpers/infra.js';

interface Instruction {
  readonly op: string;
  readonly args: string;
  readonly line: number;
}
interface Stage {
  readonly from: string;
  readonly name: string | null;
  readonly instructions: Instruction[];
}

/** Instructions with line continuations joined and comments dropped (enough for this Dockerfile's syntax). */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let buffer = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (!buffer && (/^\s*#/.test(line) || !line.trim())) return;
    if (/^\s*#/.test(line)) return; // comment inside a continued instruction
    if (!buffer) start = i + 1;
    buffer += (buffer ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (!line.endsWith('\\')) {
      const m = /^(\S+)\s*(.*)$/.exec(buffer)!;
      instructions.push({ op: m[1]!.toUpperCase(), args: m[2]!, line: start });
      buffer = '';
    }
  });
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      const from = m[1]!.replace(/\$\{(\w+)\}/g, (_, name: string) => globalArgs.get(name) ?? `\${${name}}`);
      stages.push({ from, name: m[2] ?? null, instructions: [] });
    } else if (stages.length === 0 && ins.op === 'ARG') {
      const m = /^(\w+)=(.*)$/.exec(ins.args);
      if (m) globalArgs.set(m[1]!, m[2]!.replace(/^"|"$/g, ''));
    } else {
      stages.at(-1)?.instructions.push(ins);
    }
  }
  return { args: globalArgs, stages };
}

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const build = dockerfile.stages[0]!;
const runtime = dockerfile.stages.at(-1)!;
const ops = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op);

/** .dockerignore semantics: last matching line wins, `!` re-includes. */
function dockerignored(path: string): boolean {
  const lines = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  let ignored = false;
  for (const line of lines) {
    const negate = line.startsWith('!');
    const pattern = negate ? line.slice(1) : line;
    const matches = picomatch(pattern, { dot: true })(path) || picomatch(`${pattern}/**`, { dot: true })(path);
    if (matches) ignored = !negate;
  }
  return ignored;
}

/** COPY sources of the build context (not --from), relative to the repository. */
function contextSources(): string[] {
  return dockerfile.stages.flatMap((s) =>
    [...ops(s, 'COPY'), ...ops(s, 'ADD')]
      .filter((i) => !/--from=/.test(i.args))
      .flatMap((i) => {
        const parts = i.args.split(/\s+/).filter((p) => !p.startsWith('--'));
        return parts.slice(0, -1);
      }),
  );
}

test('the image is built in a separate stage from a pinned Node 20 image and runs on a pinned Node 20 runtime', () => {
  assert.ok(dockerfile.stages.length >= 2, 'multi-stage');
  assert.equal(build.name, 'build');
  assert.match(build.from, /^node:20(\.\d+)*-bookworm-slim$/);
  assert.match(runtime.from, /nodejs20|node:20/);
  for (const s of dockerfile.stages) assert.doesNotMatch(s.from, /:latest$|^[^:@]+$/, `${s.from} is not pinned to a version`);
});

test('the runtime stage runs as uid 10001, never root, and takes only the build output', () => {
  const users = ops(runtime, 'USER');
  assert.ok(users.length > 0, 'no USER in the runtime stage');
  const last = users.at(-1)!;
  assert.match(last.args, /^10001(:10001)?$/);
  const lastUserIndex = runtime.instructions.indexOf(last);
  assert.ok(
    runtime.instructions.slice(lastUserIndex + 1).every((i) => i.op !== 'USER' && i.op !== 'RUN'),
    'nothing may run or switch user after USER 10001',
  );
  for (const copy of ops(runtime, 'COPY')) assert.match(copy.args, /--from=build\b/, `runtime COPY from the context: ${copy.args}`);
  assert.deepEqual(ops(runtime, 'RUN'), [], 'the distroless runtime has no shell to RUN in');
});

test('the build installs exactly the lock file, compiles with the build script and prunes dev dependencies', () => {
  const runs = ops(build, 'RUN').map((i) => i.args).join('\n');
  assert.match(runs, /npm ci\b/);
  assert.doesNotMatch(runs, /npm install\b/);
  assert.match(runs, /npm run build\b/);
  assert.match(runs, /npm prune --omit=dev\b/);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.build ?? '', /tsconfig\.build\.json/);
});

test('the entrypoint is the compiled CLI that the charts give the sidecar and analyzer commands to', () => {
  const [entrypoint] = ops(runtime, 'ENTRYPOINT');
  assert.ok(entrypoint);
  const argv = JSON.parse(entrypoint.args) as string[];
  assert.match(argv[0]!, /(^|\/)node$/);
  assert.equal(argv[1], 'dist/cli/main.js');
  const workdir = ops(runtime, 'WORKDIR').at(-1)?.args;
  assert.equal(workdir, '/app');
  // tsconfig.build.json compiles cli/main.ts to dist/cli/main.js
  const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  const base = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };
  assert.ok(tsconfig.include.includes('cli'));
  assert.deepEqual([base.compilerOptions.outDir, base.compilerOptions.rootDir], ['dist', '.']);
  assert.ok(existsSync(join(ROOT, 'cli', 'main.ts')));
});

test('every path the Dockerfile copies from the context exists and is let through by .dockerignore', () => {
  const sources = contextSources();
  assert.ok(sources.length > 0);
  for (const src of sources) {
    assert.ok(existsSync(join(ROOT, src)), `${src} does not exist`);
    assert.ok(!dockerignored(src), `${src} is excluded by .dockerignore`);
  }
  // what the compiler needs is copied: every folder tsconfig.build.json includes
  const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  for (const dir of tsconfig.include) assert.ok(sources.includes(dir), `tsconfig.build.json includes ${dir}, which is not copied`);
});

test('no secret, local environment or dependency tree can enter the build context', () => {
  for (const path of ['.infra.env', '.env', '.env.production', '.git/config', '.cache/bin/helm', 'node_modules/yaml/package.json', 'dist/cli/main.js',
    'models/node_modules/x', 'cli/server.key', 'analyzer/tls/ca.pem', 'test/helm/values/production.yaml', '.infra/redis/dump.rdb', 'bench/out/run.json', 'npm-debug.log']) {
    assert.ok(dockerignored(path), `${path} would be sent to the Docker daemon`);
  }
  for (const src of contextSources()) assert.doesNotMatch(src, /(^|\/)(\.env|\.infra|\.npmrc|\.git)|secret|\.pem$|\.key$|^\.$/i, `${src} must not be copied`);
  for (const s of dockerfile.stages) {
    for (const i of [...ops(s, 'ENV'), ...ops(s, 'ARG')]) assert.doesNotMatch(i.args, /(PASSWORD|TOKEN|SECRET|HASH_KEY)\s*=/i, `secret in ${i.op} ${i.args}`);
    for (const i of ops(s, 'ADD')) assert.doesNotMatch(i.args, /https?:\/\//, 'ADD of a URL');
  }
});

test('the runtime assets package.json ships are carried into the image when present', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
  const runs = ops(build, 'RUN').map((i) => i.args).join('\n');
  for (const entry of pkg.files) {
    const top = entry.split('/')[0]!;
    assert.ok(runs.includes(entry) || new RegExp(`cp -r [^\\n]*\\b${top}\\b`).test(runs), `package.json files entry ${entry} is not copied to the image`);
  }
  assert.match(runs, /cp -r package\.json /, 'the CLI reads its version from package.json');
});
