package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;

class TokenMapTest {
    @Test
    void behavesLikeAMapUnderRandomPutsRemovesAndRangeRemovals() {
        TokenMap map = new TokenMap();
        Map<Long, Long> reference = new HashMap<>();
        Random rnd = new Random(42);
        for (int i = 0; i < 200_000; i++) {
            long key = rnd.nextInt(5000);
            long value = rnd.nextInt(4) == 0 ? 0 : rnd.nextLong() | 1;
            map.put(key, value);
            if (value == 0)
                reference.remove(key);
            else
                reference.put(key, value);
            if (i % 10_000 == 0) {
                long lo = rnd.nextInt(5000), hi = lo + rnd.nextInt(500);
                map.removeIf(k -> k >= lo && k < hi);
                reference.keySet().removeIf(k -> k >= lo && k < hi);
            }
        }
        for (long k = 0; k < 5000; k++)
            assertEquals(reference.getOrDefault(k, 0L), map.get(k), "key " + k);
    }
}
