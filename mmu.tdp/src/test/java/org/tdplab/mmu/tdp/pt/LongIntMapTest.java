package org.tdplab.mmu.tdp.pt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;

class LongIntMapTest {

    @Test
    void putGetRemove() {
        LongIntMap m = new LongIntMap(4, -1);
        assertEquals(-1, m.get(7));
        assertEquals(-1, m.put(7, 70));
        assertEquals(70, m.get(7));
        assertEquals(70, m.put(7, 71));
        assertEquals(71, m.get(7));
        assertEquals(1, m.size());
        assertEquals(71, m.remove(7));
        assertEquals(-1, m.get(7));
        assertEquals(-1, m.remove(7));
        assertEquals(0, m.size());
        assertEquals(-1, m.put(0, 5), "0 is an ordinary key");
        assertEquals(5, m.get(0));
        assertThrows(IllegalArgumentException.class, () -> m.put(LongIntMap.EMPTY, 1));
        assertThrows(IllegalArgumentException.class, () -> m.put(LongIntMap.TOMBSTONE, 1));
    }

    @Test
    void matchesHashMapUnderChurn() {
        LongIntMap m = new LongIntMap(16, 0);
        Map<Long, Integer> ref = new HashMap<>();
        Random rnd = new Random(1);
        for (int i = 0; i < 200_000; i++) {
            long key = rnd.nextInt(5000) * 4096L + 0x1000;
            int op = rnd.nextInt(3);
            if (op == 0) {
                int v = rnd.nextInt(1_000_000) + 1;
                Integer old = ref.put(key, v);
                assertEquals(old == null ? 0 : old, m.put(key, v));
            } else if (op == 1) {
                Integer old = ref.remove(key);
                assertEquals(old == null ? 0 : old, m.remove(key));
            } else {
                Integer v = ref.get(key);
                assertEquals(v == null ? 0 : v, m.get(key));
            }
            assertEquals(ref.size(), m.size());
        }
        for (Map.Entry<Long, Integer> e : ref.entrySet()) {
            assertEquals((int) e.getValue(), m.get(e.getKey()));
        }
    }
}
