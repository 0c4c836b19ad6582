package org.tdplab.mmu.tdp.vm;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * A deep copy of a backend snapshot that admits plain data only: boxed primitives, strings, primitive and string
 * arrays, lists, and maps with string keys. Anything else — above all an object of the departing bundle's classes —
 * is refused, so nothing of that bundle survives the swap.
 */
final class PlainData {
    private PlainData() {
    }

    static Map<String, Object> copy(Map<String, Object> snapshot) {
        if (snapshot == null)
            throw new MmuException(Errno.EINVAL, "no snapshot");
        @SuppressWarnings("unchecked")
        Map<String, Object> out = (Map<String, Object>) value(snapshot, "");
        return out;
    }

    private static Object value(Object v, String path) {
        if (v instanceof String || v instanceof Integer || v instanceof Long || v instanceof Boolean
                || v instanceof Short || v instanceof Byte || v instanceof Character || v instanceof Double
                || v instanceof Float)
            return v;
        if (v instanceof long[] a)
            return a.clone();
        if (v instanceof int[] a)
            return a.clone();
        if (v instanceof byte[] a)
            return a.clone();
        if (v instanceof boolean[] a)
            return a.clone();
        if (v instanceof short[] a)
            return a.clone();
        if (v instanceof char[] a)
            return a.clone();
        if (v instanceof double[] a)
            return a.clone();
        if (v instanceof float[] a)
            return a.clone();
        if (v instanceof String[] a)
            return a.clone();
        if (v instanceof List<?> list) {
            List<Object> out = new ArrayList<>(list.size());
            for (int i = 0; i < list.size(); i++)
                out.add(value(list.get(i), path + "[" + i + "]"));
            return Collections.unmodifiableList(out);
        }
        if (v instanceof Map<?, ?> map) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : map.entrySet()) {
                if (!(e.getKey() instanceof String key))
                    throw new MmuException(Errno.EINVAL, "snapshot key %s at '%s' is not a string", e.getKey(), path);
                out.put(key, value(e.getValue(), path.isEmpty() ? key : path + "." + key));
            }
            return Collections.unmodifiableMap(out);
        }
        throw new MmuException(Errno.EINVAL, "snapshot value at '%s' is not plain data (%s)", path,
                v == null ? "null" : v.getClass().getName());
    }
}
