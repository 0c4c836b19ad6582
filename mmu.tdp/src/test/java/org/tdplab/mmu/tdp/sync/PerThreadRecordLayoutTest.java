package org.tdplab.mmu.tdp.sync;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.tdp.pt.Rcu;

/**
 * The records each thread writes at every read-side lock and unlock lie 128 bytes or more from either end of their
 * object: a collection copies the records an array holds next to each other, so without that padding one thread's
 * writes land on the cache line another thread's record shares (as a layout of a VM after a collection showed: vCPU 1's
 * thread's RCU and SRCU readers each shared a line with vCPU 0's). Fails on the records as they were (the counts at
 * offsets 24 and 12..32).
 */
class PerThreadRecordLayoutTest {
    private static final int APART = 128;

    @Test
    void rcuReadersFieldsArePaddedOnBothSides() throws Exception {
        assertPadded(Rcu.Reader.class, List.of("announced", "nesting"));
    }

    @Test
    void lockHoldersFieldsArePaddedOnBothSides() throws Exception {
        assertPadded(StripedRwLock.Holder.class, List.of("thread", "slot", "owned", "holds"));
    }

    private static void assertPadded(Class<?> c, List<String> fields) throws Exception {
        Layout l = Layout.of(c);
        for (String name : fields) {
            Field f = l.find(name);
            long at = l.offset(f);
            long end = at + Layout.size(f);
            assertTrue(at >= APART, () -> c.getSimpleName() + "." + name + " lies " + at + " bytes into the object");
            assertTrue(l.instanceSize - end >= APART, () -> c.getSimpleName() + "." + name + " ends "
                    + (l.instanceSize - end) + " bytes before the object's end (" + l.instanceSize + " bytes)");
        }
    }

    /** Field offsets as the running JVM lays the class out (sun.misc.Unsafe, test-only). */
    static final class Layout {
        private static final sun.misc.Unsafe U = unsafe();
        final Class<?> c;
        final long instanceSize;

        private Layout(Class<?> c) {
            this.c = c;
            long max = 12;
            for (Class<?> k = c; k != null; k = k.getSuperclass())
                for (Field f : k.getDeclaredFields())
                    if (!Modifier.isStatic(f.getModifiers()))
                        max = Math.max(max, U.objectFieldOffset(f) + size(f));
            this.instanceSize = (max + 7) & ~7L;
        }

        static Layout of(Class<?> c) {
            return new Layout(c);
        }

        Field find(String name) throws NoSuchFieldException {
            for (Class<?> k = c; k != null; k = k.getSuperclass())
                for (Field f : k.getDeclaredFields())
                    if (f.getName().equals(name) && !Modifier.isStatic(f.getModifiers()))
                        return f;
            throw new NoSuchFieldException(name);
        }

        long offset(Field f) {
            return U.objectFieldOffset(f);
        }

        static long size(Field f) {
            Class<?> t = f.getType();
            if (t == long.class || t == double.class)
                return 8;
            if (t == int.class || t == float.class)
                return 4;
            if (t == short.class || t == char.class)
                return 2;
            if (t == byte.class || t == boolean.class)
                return 1;
            return sun.misc.Unsafe.ARRAY_OBJECT_INDEX_SCALE;
        }

        private static sun.misc.Unsafe unsafe() {
            try {
                Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
                f.setAccessible(true);
                return (sun.misc.Unsafe) f.get(null);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }
    }
}
