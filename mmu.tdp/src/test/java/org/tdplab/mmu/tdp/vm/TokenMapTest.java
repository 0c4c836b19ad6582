package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import org.junit.jupiter.api.Test;

class TokenMapTest {
    @Test
    void behavesLikeAMapUnderRandomPutsRemovesAndRangeClears() {
        TokenMap map = new TokenMap();
        Map<Long, Long> reference = new HashMap<>();
        Random rnd = new Random(42);
        // keys across two regions (2^27 GFNs each) and a high GPA, values default or not
        long[] bases = { 0, (1L << 27) - 2500, 1L << 40 };
        for (int i = 0; i < 200_000; i++) {
            long key = bases[rnd.nextInt(bases.length)] + rnd.nextInt(5000);
            long value = switch (rnd.nextInt(4)) {
            case 0 -> 0;
            case 1 -> TokenMap.defaultToken(key);
            default -> rnd.nextLong() | 1;
            };
            map.put(key, value);
            if (value == 0)
                reference.remove(key);
            else
                reference.put(key, value);
            if (i % 10_000 == 0) {
                long lo = bases[rnd.nextInt(bases.length)] + rnd.nextInt(5000), hi = lo + rnd.nextInt(1500);
                map.clear(lo, hi);
                reference.keySet().removeIf(k -> k >= lo && k < hi);
            }
        }
        for (long base : bases)
            for (long k = base; k < base + 5000; k++)
                assertEquals(reference.getOrDefault(k, 0L), map.get(k), "key " + k);
        TreeMap<Long, Long> visited = new TreeMap<>();
        map.forEach(0, Long.MAX_VALUE >>> 12, visited::put);
        assertEquals(new TreeMap<>(reference), visited);
    }

    @Test
    void defaultTokensNeedNoValueArray() {
        TokenMap map = new TokenMap();
        for (long g = 0; g < 4096; g++)
            map.put(g, TokenMap.defaultToken(g));
        for (long g = 0; g < 4096; g++)
            assertEquals(g << 12, map.get(g));
        map.put(7, 0x1234);
        assertEquals(0x1234, map.get(7));
        map.put(7, TokenMap.defaultToken(7));
        assertEquals(7L << 12, map.get(7), "the default again, after another value");
        map.clear(0, 512);
        assertEquals(0, map.get(7));
        assertEquals(512L << 12, map.get(512));
    }
}
