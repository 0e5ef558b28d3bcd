import { describe, expect, it } from 'vitest';
import { FailoverWatch } from '../../../src/stores/redis/failover-watch.js';
import { SLOTS } from '../../../src/stores/redis/slots.js';

/** A slot map of three primaries, a third of the slots each, with `changes` applied (slot range → new primary). */
function map(changes: Array<[from: number, to: number, owner: string]> = []): (slot: number) => string {
  return (slot) => {
    for (const [from, to, owner] of changes) if (slot >= from && slot <= to) return owner;
    return slot < 5_461 ? 'a:1' : slot < 10_923 ? 'b:1' : 'c:1';
  };
}

describe('FailoverWatch', () => {
  it('fences the slots a promoted replica took over until the protected keys were renewed, and then serves them again', async () => {
    let release: () => void = () => {};
    const renewed: Array<{ keys: readonly string[]; ttl: number }> = [];
    const watch = new FailoverWatch(
      (keys, ttl) =>
        new Promise<void>((resolve) => {
          renewed.push({ keys, ttl });
          release = resolve;
        }),
    );
    watch.protect(['app:v:all'], 86_400_000);
    await watch.observe(map());
    // b:1 died; its replica b:2 serves its slots.
    const settled = watch.observe(map([[5_461, 10_922, 'b:2']]));
    expect(watch.fenced(6_000)).toBe(true);
    expect(watch.fenced(100)).toBe(false);
    expect(renewed).toEqual([{ keys: ['app:v:all'], ttl: 86_400_000 }]);
    release();
    await settled;
    expect(watch.fenced(6_000)).toBe(false);
    expect(watch.failovers).toBe(1);
  });

  it('does not fence slots a reshard moved between primaries that stay primaries', async () => {
    const renew: string[] = [];
    const watch = new FailoverWatch(async (keys) => {
      renew.push(...keys);
    });
    watch.protect(['app:v:all'], 1_000);
    await watch.observe(map());
    // Some of a:1's slots, then all of them, move to c:1.
    await watch.observe(map([[0, 100, 'c:1']]));
    await watch.observe(map([[0, 5_460, 'c:1']]));
    expect(watch.failovers).toBe(0);
    expect(renew).toEqual([]);
    for (let slot = 0; slot < SLOTS; slot += 997) expect(watch.fenced(slot)).toBe(false);
  });

  it('fences when the old primary rejoined as a replica of the one that took over (CLUSTER FAILOVER TAKEOVER)', async () => {
    const watch = new FailoverWatch(() => new Promise<void>(() => {}));
    watch.protect(['app:v:all'], 1_000);
    await watch.observe(map());
    void watch.observe(map([[10_923, 16_383, 'c:2']]));
    expect(watch.fenced(16_000)).toBe(true);
    expect(watch.changed(16_000, 'c:2')).toBe(false);
    expect(watch.changed(16_000, 'c:1')).toBe(true);
  });
});
