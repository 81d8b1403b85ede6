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

export function loadTf(log: (line: string) => void = () => undefined, prefer: 'auto' | 'wasm' | 'cpu' = (process.env.RW_TF_BACKEND as 'wasm' | 'cpu') || 'auto'): Promise<TfRuntime> {
  runtime ??= (async () => {
    const notes: string[] = [];
    const require = createRequire(import.meta.url);
    if (prefer === 'auto') {
      try {
        // tfjs-node registers the `tensorflow` backend and re-exports tfjs
        const node = (await import('@tensorflow/tfjs-node' as string)) as Tf;
        await node.setBackend('tensorflow');
        await node.ready();
        const chosen: TfRuntime = { tf: node, backend: node.getBackend(), notes };
        log(`tensorflow.js backend: ${chosen.backend} (@tensorflow/tfjs-node)`);
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
