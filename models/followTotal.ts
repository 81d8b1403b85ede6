/**
 * A prom-client counter that follows a running total read at scrape time (a store's call count, a
 * publisher's drops): the part of it since the last scrape is added. Should the total restart from
 * zero (a new store or publisher), the new total is added, never subtracted.
 */
import { Counter, type Registry } from 'prom-client';

export function followTotal(name: string, help: string, registry: Registry, read: () => number | undefined): void {
  let last = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const total = read();
      if (total === undefined || !Number.isFinite(total)) return;
      this.inc(total >= last ? total - last : total);
      last = total;
    },
  });
}
