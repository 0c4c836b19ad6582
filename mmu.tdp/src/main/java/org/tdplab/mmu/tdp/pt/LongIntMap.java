package org.tdplab.mmu.tdp.pt;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Open-addressing {@code long -> int} map without boxing.
 *
 * <p>Writers ({@link #put}, {@link #remove}) must be serialized by the caller. {@link #get} may run concurrently
 * with them: a slot's value is written before its key is published with release semantics, removed keys become
 * tombstones (a slot never goes back to empty), and growth copies into fresh arrays that are published whole.
 * A reader therefore finds every key whose insertion happened-before the lookup.
 */
public final class LongIntMap {
    private static final VarHandle KEYS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle VALS = MethodHandles.arrayElementVarHandle(int[].class);

    /** Reserved key values; callers may not use them. */
    public static final long EMPTY = Long.MIN_VALUE;
    public static final long TOMBSTONE = Long.MIN_VALUE + 1;

    private static final class Table {
        final long[] keys;
        final int[] vals;
        final int mask;

        Table(int capacity) {
            keys = new long[capacity];
            vals = new int[capacity];
            mask = capacity - 1;
            java.util.Arrays.fill(keys, EMPTY);
        }
    }

    private final int missing;
    private volatile Table table;
    private int size;
    private int tombstones;

    public LongIntMap(int expected, int missing) {
        this.missing = missing;
        this.table = new Table(capacityFor(expected));
    }

    private static int capacityFor(int entries) {
        int cap = 16;
        while (cap < entries * 2) {
            cap <<= 1;
        }
        return cap;
    }

    private static int hash(long key) {
        key ^= key >>> 33;
        key *= 0xff51afd7ed558ccdL;
        key ^= key >>> 33;
        return (int) key;
    }

    /** The value for {@code key}, or the {@code missing} value given at construction. Lock-free. */
    public int get(long key) {
        Table t = table;
        int i = hash(key) & t.mask;
        for (;;) {
            long k = (long) KEYS.getAcquire(t.keys, i);
            if (k == key) {
                return (int) VALS.getAcquire(t.vals, i);
            }
            if (k == EMPTY) {
                return missing;
            }
            i = (i + 1) & t.mask;
        }
    }

    public int size() {
        return size;
    }

    /** Slots in the current table: at least twice the entries and tombstones, a power of two. */
    int capacity() {
        return table.keys.length;
    }

    /** Maps {@code key} to {@code value}; returns the previous value or {@code missing}. Caller serializes. */
    public int put(long key, int value) {
        checkKey(key);
        if ((size + tombstones + 1) * 2 > table.keys.length) {
            rehash(size + 1);
        }
        Table t = table;
        int i = hash(key) & t.mask;
        int reuse = -1;
        for (;;) {
            long k = t.keys[i];
            if (k == key) {
                int old = t.vals[i];
                VALS.setRelease(t.vals, i, value);
                return old;
            }
            if (k == EMPTY) {
                break;
            }
            if (k == TOMBSTONE && reuse < 0) {
                reuse = i;
            }
            i = (i + 1) & t.mask;
        }
        if (reuse >= 0) {
            i = reuse;
            tombstones--;
        }
        VALS.setRelease(t.vals, i, value);
        KEYS.setRelease(t.keys, i, key);
        size++;
        return missing;
    }

    /** Removes {@code key}; returns its value or {@code missing}. Caller serializes. */
    public int remove(long key) {
        checkKey(key);
        Table t = table;
        int i = hash(key) & t.mask;
        for (;;) {
            long k = t.keys[i];
            if (k == key) {
                KEYS.setRelease(t.keys, i, TOMBSTONE);
                size--;
                tombstones++;
                return t.vals[i];
            }
            if (k == EMPTY) {
                return missing;
            }
            i = (i + 1) & t.mask;
        }
    }

    private static void checkKey(long key) {
        if (key == EMPTY || key == TOMBSTONE) {
            throw new IllegalArgumentException("reserved key " + key);
        }
    }

    /** Copies live entries into fresh arrays and publishes them; readers of the old arrays stay correct. */
    private void rehash(int entries) {
        Table old = table;
        Table t = new Table(capacityFor(Math.max(entries, size * 2)));
        for (int j = 0; j < old.keys.length; j++) {
            long k = old.keys[j];
            if (k == EMPTY || k == TOMBSTONE) {
                continue;
            }
            int i = hash(k) & t.mask;
            while (t.keys[i] != EMPTY) {
                i = (i + 1) & t.mask;
            }
            t.keys[i] = k;
            t.vals[i] = old.vals[j];
        }
        tombstones = 0;
        table = t;
    }
}
