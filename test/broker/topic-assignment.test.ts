// Proves the group assignment is balanced (floor/ceil of P/M per member) and sticky (a member keeps
// every partition it owns up to its share), for every small P, M and random prior ownership.
import { describe, expect, it } from 'vitest';
import { stickyAssignment } from '../../src/broker/topic/group-coordinator.js';

describe('topic group assignment', () => {
  it('group - balanced and sticky for every partitions 1..12, members 1..6 and random prior owners', () => {
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let partitions = 1; partitions <= 12; partitions++) {
      for (let members = 1; members <= 6; members++) {
        for (let round = 0; round < 20; round++) {
          const owners = Array.from({ length: partitions }, () => Math.floor(random() * (members + 1)) - 1);
          const next = stickyAssignment(partitions, members, owners);
          const counts = Array.from({ length: members }, (_, m) => next.filter((o) => o === m).length);
          expect(next.every((o) => o >= 0 && o < members), `seed round ${round}`).toBe(true);
          expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
          for (let m = 0; m < members; m++) {
            const had = owners.flatMap((o, p) => (o === m ? [p] : []));
            const kept = had.filter((p) => next[p] === m).length;
            // Sticky: a member loses partitions only beyond its share.
            expect(kept).toBe(Math.min(had.length, counts[m]!));
          }
        }
      }
    }
    expect(stickyAssignment(4, 2, [0, 0, 0, 0])).toEqual([0, 0, 1, 1]);
    expect(stickyAssignment(3, 0, [0, 1, 2])).toEqual([-1, -1, -1]);
  });
});
