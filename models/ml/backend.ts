/**
 * TensorFlow.js with the best backend this machine has, chosen once at start-up and logged:
 * `@tensorflow/tfjs-node` (native; an optional dependency that needs libtensorflow), else
 * `@tensorflow/tfjs-backend-wasm` (its .wasm files are loaded from node_modules by file path),
 * else the pure-JS `cpu` backend. Same model code on all three.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type * as TF from '@tensorflow/tfjs';

export type Tf = typeof TF;

export interface TfRuntime {
  readonly tf: Tf;
  /** `tensorflow` (tfjs-node), `wasm` or `cpu`. */
  readonly backend: string;
  /** Why the better backends were not used. */
  readonly notes: readonly string[];
}

let runtime: Promise<TfRuntime> | null = null;

export type BackendPreference = 'auto' | 'wasm' | 'cpu';

/**
 * RW_TF_BACKEND: `wasm` or `cpu` force that backend, empty or `auto` chooses; anything else (a typo,
 * `tensorflow`) chooses automatically too — the best backend available — and says so in the log.
 */
export function backendPreference(value: string | undefined): { prefer: BackendPreference; note: string | null } {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '' || v === 'auto') return { prefer: 'auto', note: null };
  if (v === 'wasm' || v === 'cpu') return { prefer: v, note: null };
  return { prefer: 'auto', note: `RW_TF_BACKEND=${JSON.stringify(value).slice(0, 40)} is not auto, wasm or cpu: chosen automatically` };
}

export function loadTf(log: (line: string) => void = () => undefined, preferred?: BackendPreference): Promise<TfRuntime> {
  runtime ??= (async () => {
    const notes: string[] = [];
    const env = backendPreference(process.env.RW_TF_BACKEND);
    const prefer = preferred ?? env.prefer;
    if (!preferred && env.note) notes.push(env.note);
    const require = createRequire(import.meta.url);
    if (prefer === 'auto') {
      try {
        // tfjs-node registers the `tensorflow` backend and re-exports tfjs
        const node = (await import('@tensorflow/tfjs-node' as string)) as Tf;
        await node.setBackend('tensorflow');
        await node.ready();
        const chosen: TfRuntime = { tf: node, backend: node.getBackend(), notes };
        log(`tensorflow.js backend: ${chosen.backend} (@tensorflow/tfjs-node${notes.length ? `; ${notes.join('; ')}` : ''})`);
        return chosen;
      } catch (err) {
        notes.push(`tfjs-node unavailable: ${firstLine(err)}`);
      }
    }
    const tf = (await import('@tensorflow/tfjs')) as Tf;
    if (prefer !== 'cpu') {
      try {
        const wasm = await import('@tensorflow/tfjs-backend-wasm');
        wasm.setWasmPaths(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + '/');
        if (await tf.setBackend('wasm')) {
          await tf.ready();
          log(`tensorflow.js backend: wasm (${notes.join('; ') || 'preferred'})`);
          return { tf, backend: 'wasm', notes };
        }
        notes.push('wasm backend did not initialise');
      } catch (err) {
        notes.push(`wasm unavailable: ${firstLine(err)}`);
      }
    }
    await tf.setBackend('cpu');
    await tf.ready();
    log(`tensorflow.js backend: cpu (${notes.join('; ') || 'requested'})`);
    return { tf, backend: 'cpu', notes };
  })();
  return runtime;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err);
  return text.split('\n')[0]!.slice(0, 200);
}
