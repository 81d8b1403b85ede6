/**
 * The simulation: normal clients plus planned attacks, merged into one time-ordered stream of
 * SimCalls (and their CallEvents) over simulated time [start, start + duration). Simulated time is
 * decoupled from the wall clock — hours of traffic are generated as fast as the consumer pulls — and
 * a driver maps it back to real time when it sends for real.
 *
 * Deterministic from the seed: every actor draws from a stream named after it, and the merge breaks
 * timestamp ties by actor order, so the same options always give the same calls, and an attack
 * never changes the normal traffic around it.
 */
import type { CallEvent } from '../models/events.js';
import type { Actor } from './arrivals.js';
import { clientActor } from './behaviour.js';
import { CallBuilder, type SimCall } from './calls.js';
import { createPopulation, type Population, type PopulationOptions } from './population.js';
import { Rng, type Seed } from './random.js';
import { planScenario, toMs, type GroundTruthLabel, type PlannedScenario, type ScenarioSpec } from './scenarios.js';

/** Monday 2024-01-01 00:00 UTC: a fixed default start, so simulations do not depend on today's date. */
export const DEFAULT_START_MS = Date.UTC(2024, 0, 1);

export interface SimulationOptions {
  readonly seed: Seed;
  /** Epoch ms where simulated time starts (default DEFAULT_START_MS; a live run passes Date.now()). */
  readonly startMs?: number;
  /** Simulated duration: ms, a duration string, or Infinity for an endless live simulation (default 1h). */
  readonly duration?: number | string;
  /** A population, or the options to create one with this seed (default: 500 clients). */
  readonly population?: Population | Omit<PopulationOptions, 'seed'>;
  readonly scenarios?: readonly ScenarioSpec[];
  /** CallEvent.service (default `api`). */
  readonly service?: string;
  /** CallEvent.pod values, one drawn per call (default api-0..api-2). */
  readonly pods?: readonly string[];
  /** Share of calls that fail with 5xx whatever they asked (default 0.002). */
  readonly serverErrorRate?: number;
  /** false: attacks only, no normal clients (default true). */
  readonly normalTraffic?: boolean;
}

export interface Simulation {
  readonly seed: Seed;
  readonly startMs: number;
  readonly endMs: number;
  readonly population: Population;
  /** Ground truth of every attack that overlaps the window, in scenario order. */
  readonly labels: readonly GroundTruthLabel[];
  /** A fresh pass over the calls, in time order; each pass yields exactly the same calls. */
  calls(): IterableIterator<SimCall>;
  /** The same pass, events only. */
  events(): IterableIterator<CallEvent>;
}

function isPopulation(value: SimulationOptions['population']): value is Population {
  return value !== undefined && Array.isArray((value as Population).clients);
}

export function createSimulation(options: SimulationOptions): Simulation {
  const startMs = options.startMs ?? DEFAULT_START_MS;
  const duration = options.duration ?? '1h';
  const durationMs = duration === Infinity ? Infinity : toMs(duration, 'duration');
  const endMs = startMs + durationMs;
  const population = isPopulation(options.population) ? options.population : createPopulation({ ...options.population, seed: options.seed });
  const root = new Rng(options.seed);
  const builderOptions = {
    service: options.service ?? 'api',
    pods: options.pods ?? ['api-0', 'api-1', 'api-2'],
    serverErrorRate: options.serverErrorRate ?? 0.002,
  };
  if (builderOptions.pods.length === 0) throw new RangeError('pods must not be empty');

  const ctx = { population, ips: population.ips.clone(), startMs, endMs, taken: new Set<string>() };
  const planned: PlannedScenario[] = [];
  (options.scenarios ?? []).forEach((spec, i) => {
    const plan = planScenario(spec, i, root.fork(`scenario/${i}/${spec.name}`), ctx);
    if (plan) planned.push(plan);
  });
  const normalTraffic = options.normalTraffic ?? true;

  function* calls(): IterableIterator<SimCall> {
    const builder = new CallBuilder(builderOptions);
    const actors: Actor[] = [];
    if (normalTraffic) for (const client of population.clients) actors.push(clientActor(client, root.fork(`traffic/${client.index}`), startMs, endMs, builder));
    for (const plan of planned) actors.push(...plan.actors(builder));
    const heap = new ActorHeap(actors);
    for (;;) {
      const actor = heap.peek();
      if (actor === undefined || actor.nextTs === Infinity) return;
      yield actor.take();
      heap.updateTop();
    }
  }

  return {
    seed: options.seed,
    startMs,
    endMs,
    population,
    labels: planned.map((p) => p.label),
    calls,
    *events() {
      for (const call of calls()) yield call.event;
    },
  };
}

/** Min-heap of actors by next call time; ties go to the actor created first (determinism). */
class ActorHeap {
  private readonly items: Actor[];
  private readonly rank: Map<Actor, number>;

  constructor(actors: Actor[]) {
    this.items = actors.filter((a) => a.nextTs !== Infinity);
    this.rank = new Map(actors.map((a, i) => [a, i]));
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  peek(): Actor | undefined {
    return this.items[0];
  }

  /** Restores order after the top actor's nextTs moved forward; drops it when it is done. */
  updateTop(): void {
    const top = this.items[0]!;
    if (top.nextTs === Infinity) {
      const last = this.items.pop()!;
      if (this.items.length === 0) return;
      this.items[0] = last;
    }
    this.down(0);
  }

  private less(a: Actor, b: Actor): boolean {
    return a.nextTs < b.nextTs || (a.nextTs === b.nextTs && this.rank.get(a)! < this.rank.get(b)!);
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.less(items[r]!, items[l]!) ? r : l;
      if (!this.less(items[c]!, item)) break;
      items[i] = items[c]!;
      i = c;
    }
    items[i] = item;
  }
}
