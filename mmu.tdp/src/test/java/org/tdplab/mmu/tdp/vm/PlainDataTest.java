package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * A backend snapshot is copied as plain data: every primitive array is a copy of its own (a later change to the
 * backend's arrays does not reach the snapshot), lists and maps are copied and sealed, anything else is refused
 * with the path to it.
 */
class PlainDataTest {
    @Test
    void everyArrayIsCopiedAndContainersAreSealed() {
        Map<String, Object> in = new LinkedHashMap<>();
        long[] longs = { 1, 2 };
        int[] ints = { 3 };
        byte[] bytes = { 4 };
        boolean[] bools = { true };
        short[] shorts = { 5 };
        char[] chars = { 'c' };
        double[] doubles = { 0.5 };
        float[] floats = { 0.25f };
        String[] strings = { "s" };
        Object[] arrays = { longs, ints, bytes, bools, shorts, chars, doubles, floats, strings };
        String[] keys = { "l", "i", "b", "z", "s", "c", "d", "f", "t" };
        for (int k = 0; k < keys.length; k++)
            in.put(keys[k], arrays[k]);
        List<Object> list = new ArrayList<>(List.of(7L, "x"));
        in.put("list", list);
        in.put("map", new LinkedHashMap<>(Map.of("n", 8)));
        in.put("scalars", List.of(1, 2L, true, (short) 3, (byte) 4, 'q', 1.5, 2.5f, "str"));

        Map<String, Object> out = PlainData.copy(in);
        for (int k = 0; k < keys.length; k++)
            assertNotSame(arrays[k], out.get(keys[k]), keys[k] + " is a copy");
        longs[0] = 99;
        ints[0] = 99;
        bytes[0] = 99;
        bools[0] = false;
        shorts[0] = 99;
        chars[0] = 'z';
        doubles[0] = 99;
        floats[0] = 99;
        strings[0] = "changed";
        assertArrayEquals(new long[] { 1, 2 }, (long[]) out.get("l"));
        assertArrayEquals(new int[] { 3 }, (int[]) out.get("i"));
        assertArrayEquals(new byte[] { 4 }, (byte[]) out.get("b"));
        assertArrayEquals(new boolean[] { true }, (boolean[]) out.get("z"));
        assertArrayEquals(new short[] { 5 }, (short[]) out.get("s"));
        assertArrayEquals(new char[] { 'c' }, (char[]) out.get("c"));
        assertArrayEquals(new double[] { 0.5 }, (double[]) out.get("d"));
        assertArrayEquals(new float[] { 0.25f }, (float[]) out.get("f"));
        assertArrayEquals(new String[] { "s" }, (String[]) out.get("t"));
        list.add("later");
        assertEquals(List.of(7L, "x"), out.get("list"));
        assertEquals(Map.of("n", 8), out.get("map"));
        assertEquals(in.get("scalars"), out.get("scalars"));
        assertThrows(UnsupportedOperationException.class, () -> out.put("new", 1));
        @SuppressWarnings("unchecked")
        List<Object> copied = (List<Object>) out.get("list");
        assertThrows(UnsupportedOperationException.class, () -> copied.add(1));
    }

    @Test
    void whatIsNotPlainDataIsRefusedWithItsPath() {
        MmuException e = assertThrows(MmuException.class,
                () -> PlainData.copy(Map.of("a", Map.of("b", List.of(1, new Object())))));
        assertEquals(Errno.EINVAL, e.errno());
        assertEquals("EINVAL: snapshot value at 'a.b[1]' is not plain data (java.lang.Object)", e.getMessage());
        Map<String, Object> nulls = new LinkedHashMap<>();
        nulls.put("n", null);
        assertEquals("EINVAL: snapshot value at 'n' is not plain data (null)",
                assertThrows(MmuException.class, () -> PlainData.copy(nulls)).getMessage());
        assertEquals("EINVAL: snapshot key 3 at 'm' is not a string",
                assertThrows(MmuException.class, () -> PlainData.copy(Map.of("m", Map.of(3, 1)))).getMessage());
        assertEquals("EINVAL: no snapshot", assertThrows(MmuException.class, () -> PlainData.copy(null)).getMessage());
    }
}
