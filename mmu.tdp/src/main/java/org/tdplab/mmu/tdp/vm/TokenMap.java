package org.tdplab.mmu.tdp.vm;

/**
 * A concurrent {@code long → long} map without allocation on get/put/remove: lock-striped open-addressing tables
 * with linear probing and backward-shift deletion. Keys are never {@link #FREE}; a value of 0 means absent.
 */
final class TokenMap {
    private static final long FREE = -1;
    private static final int STRIPES = 64;
    private final Stripe[] stripes = new Stripe[STRIPES];

    TokenMap() {
        for (int i = 0; i < STRIPES; i++)
            stripes[i] = new Stripe();
    }

    private static long mix(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return h ^ (h >>> 29);
    }

    private Stripe stripe(long key) {
        return stripes[(int) (mix(key) >>> 58)];
    }

    long get(long key) {
        Stripe s = stripe(key);
        synchronized (s) {
            return s.get(key);
        }
    }

    /** Stores {@code value}; 0 removes the key. */
    void put(long key, long value) {
        Stripe s = stripe(key);
        synchronized (s) {
            if (value == 0)
                s.remove(key);
            else
                s.put(key, value);
        }
    }

    /** Calls {@code visitor} for every entry, one stripe at a time; the visitor must not touch this map. */
    void forEach(EntryVisitor visitor) {
        for (Stripe s : stripes)
            synchronized (s) {
                for (int i = 0; i < s.keys.length; i++)
                    if (s.keys[i] != FREE)
                        visitor.visit(s.keys[i], s.values[i]);
            }
    }

    /** Removes every key the predicate selects. */
    void removeIf(KeyPredicate predicate) {
        for (Stripe s : stripes)
            synchronized (s) {
                for (int i = 0; i < s.keys.length;) {
                    long k = s.keys[i];
                    if (k != FREE && predicate.test(k))
                        s.removeAt(i); // the slot may now hold a shifted entry: look at it again
                    else
                        i++;
                }
            }
    }

    interface EntryVisitor {
        void visit(long key, long value);
    }

    interface KeyPredicate {
        boolean test(long key);
    }

    private static final class Stripe {
        long[] keys = newKeys(16);
        long[] values = new long[16];
        int size;

        private static long[] newKeys(int n) {
            long[] k = new long[n];
            java.util.Arrays.fill(k, FREE);
            return k;
        }

        private int slot(long key) {
            return (int) mix(key) & (keys.length - 1);
        }

        long get(long key) {
            for (int i = slot(key);; i = (i + 1) & (keys.length - 1)) {
                if (keys[i] == key)
                    return values[i];
                if (keys[i] == FREE)
                    return 0;
            }
        }

        void put(long key, long value) {
            if ((size + 1) * 2 > keys.length)
                grow();
            for (int i = slot(key);; i = (i + 1) & (keys.length - 1)) {
                if (keys[i] == key) {
                    values[i] = value;
                    return;
                }
                if (keys[i] == FREE) {
                    keys[i] = key;
                    values[i] = value;
                    size++;
                    return;
                }
            }
        }

        void remove(long key) {
            for (int i = slot(key);; i = (i + 1) & (keys.length - 1)) {
                if (keys[i] == FREE)
                    return;
                if (keys[i] == key) {
                    removeAt(i);
                    return;
                }
            }
        }

        /** Backward-shift deletion keeps every probe chain unbroken without tombstones. */
        void removeAt(int hole) {
            int mask = keys.length - 1;
            int i = hole;
            while (true) {
                i = (i + 1) & mask;
                long k = keys[i];
                if (k == FREE)
                    break;
                int home = slot(k);
                // move k into the hole unless its home lies cyclically in (hole, i]
                boolean stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
                if (!stays) {
                    keys[hole] = k;
                    values[hole] = values[i];
                    hole = i;
                }
            }
            keys[hole] = FREE;
            values[hole] = 0;
            size--;
        }

        private void grow() {
            long[] oldKeys = keys, oldValues = values;
            keys = newKeys(oldKeys.length * 2);
            values = new long[oldKeys.length * 2];
            size = 0;
            for (int i = 0; i < oldKeys.length; i++)
                if (oldKeys[i] != FREE)
                    put(oldKeys[i], oldValues[i]);
        }
    }
}
