package org.tdplab.mmu.api.backend;

import java.lang.reflect.Array;
import java.lang.reflect.Constructor;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.UnaryOperator;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/**
 * The one codec between a backend's typed snapshot — a record of records — and the plain data that crosses a
 * backend swap ({@link VmBackend#snapshot()}, {@link Backend#restore}). A record becomes a map of its components by
 * name, with {@link Backend#SNAPSHOT_VERSION} and {@link #FORMAT} (the record's simple name) at the top. Components
 * may be primitives and their boxes, {@code String}s, enums (by name), primitive arrays, nested records, and
 * {@code List}s of any of these.
 *
 * <p>{@link #decode} refuses, with {@code EINVAL} naming what differs, a snapshot of another format or version (an
 * older version only if the backend gives no upgrade from it), one that lacks a component or has one the record does
 * not know, and a value of the wrong type; so a backend never casts a snapshot's values by hand.
 */
public interface SnapshotCodec {
    /** The key of the top-level map that names the snapshot's format: its record's simple name. */
    String FORMAT = "snapshot.format";

    /** {@code state} as plain data, with its format and {@code version}. */
    static Map<String, Object> encode(int version, Record state) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put(Backend.SNAPSHOT_VERSION, version);
        out.put(FORMAT, state.getClass().getSimpleName());
        out.putAll(fields(state));
        return out;
    }

    /**
     * The record of {@code type} a snapshot of {@code version} encodes.
     *
     * @throws MmuException {@code EINVAL} naming the format, version, component or value that differs
     */
    static <R extends Record> R decode(Map<String, Object> snapshot, int version, Class<R> type) {
        return decode(snapshot, version, type, Map.of());
    }

    /**
     * The record of {@code type} a snapshot of {@code version} encodes, or one of an older version that
     * {@code upgrades} carries forward: the upgrade under key {@code v} turns the components of a version {@code v}
     * snapshot (a copy, without format and version) into those of version {@code v + 1}. So a backend can take over
     * the VMs of an earlier build of itself across a swap when its format changed in a way it can fill in.
     *
     * @throws MmuException {@code EINVAL} naming the format, version, component or value that differs
     */
    static <R extends Record> R decode(Map<String, Object> snapshot, int version, Class<R> type,
            Map<Integer, UnaryOperator<Map<String, Object>>> upgrades) {
        Object format = snapshot.get(FORMAT), v = snapshot.get(Backend.SNAPSHOT_VERSION);
        if (!type.getSimpleName().equals(format))
            throw new MmuException(Errno.EINVAL, "snapshot format %s is not %s", format, type.getSimpleName());
        Map<String, Object> fields = new LinkedHashMap<>(snapshot);
        fields.remove(FORMAT);
        fields.remove(Backend.SNAPSHOT_VERSION);
        if (!upgradable(v, version, upgrades))
            throw new MmuException(Errno.EINVAL, "%s snapshot version %s is incompatible (this backend restores "
                    + "version %d%s)", type.getSimpleName(), v, version,
                    upgrades.isEmpty() ? "" : " and upgrades " + new TreeSet<>(upgrades.keySet()));
        for (int from = (Integer) v; from < version; from++)
            try {
                fields = new LinkedHashMap<>(upgrades.get(from).apply(fields));
            } catch (MmuException e) {
                throw e;
            } catch (RuntimeException e) {
                throw new MmuException(Errno.EINVAL, "%s snapshot version %d cannot be upgraded to %d (%s)",
                        type.getSimpleName(), from, from + 1, e.getClass().getSimpleName());
            }
        return type.cast(record(fields, type, type.getSimpleName()));
    }

    /** Whether {@code v} is {@code version}, or an older version every step from which {@code upgrades} has. */
    private static boolean upgradable(Object v, int version, Map<Integer, ?> upgrades) {
        if (!(v instanceof Integer from) || from > version)
            return false;
        for (int step = from; step < version; step++)
            if (!upgrades.containsKey(step))
                return false;
        return true;
    }

    private static Map<String, Object> fields(Record r) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (RecordComponent c : r.getClass().getRecordComponents()) {
            try {
                var accessor = c.getAccessor();
                accessor.setAccessible(true);
                out.put(c.getName(), plain(accessor.invoke(r), c.getName()));
            } catch (ReflectiveOperationException e) {
                throw new MmuException(Errno.EINVAL, "snapshot component %s of %s cannot be read", c.getName(),
                        r.getClass().getSimpleName());
            }
        }
        return out;
    }

    private static Object plain(Object v, String path) {
        if (v == null)
            throw new MmuException(Errno.EINVAL, "snapshot component %s is null", path);
        if (v instanceof Record r)
            return fields(r);
        if (v instanceof Enum<?> e)
            return e.name();
        if (v instanceof List<?> list) {
            List<Object> out = new ArrayList<>(list.size());
            for (int i = 0; i < list.size(); i++)
                out.add(plain(list.get(i), path + "[" + i + "]"));
            return out;
        }
        if (v.getClass().isArray()) {
            if (!v.getClass().getComponentType().isPrimitive())
                throw new MmuException(Errno.EINVAL, "snapshot component %s is an array of objects", path);
            int n = Array.getLength(v);
            Object copy = Array.newInstance(v.getClass().getComponentType(), n);
            System.arraycopy(v, 0, copy, 0, n);
            return copy;
        }
        if (v instanceof String || v instanceof Number || v instanceof Boolean || v instanceof Character)
            return v;
        throw new MmuException(Errno.EINVAL, "snapshot component %s is not plain data (%s)", path,
                v.getClass().getSimpleName());
    }

    private static Record record(Map<?, ?> fields, Class<?> type, String path) {
        RecordComponent[] cs = type.getRecordComponents();
        Set<String> known = new TreeSet<>();
        Object[] args = new Object[cs.length];
        Class<?>[] types = new Class<?>[cs.length];
        for (int i = 0; i < cs.length; i++) {
            String name = cs[i].getName();
            known.add(name);
            if (!fields.containsKey(name))
                throw new MmuException(Errno.EINVAL, "snapshot lacks %s.%s", path, name);
            types[i] = cs[i].getType();
            args[i] = value(fields.get(name), cs[i].getType(), cs[i].getGenericType(), path + "." + name);
        }
        Set<String> extra = new TreeSet<>();
        for (Object k : fields.keySet())
            if (!known.contains(String.valueOf(k)))
                extra.add(String.valueOf(k));
        if (!extra.isEmpty())
            throw new MmuException(Errno.EINVAL, "snapshot has %s this backend does not know in %s", extra, path);
        try {
            Constructor<?> ctor = type.getDeclaredConstructor(types);
            ctor.setAccessible(true);
            return (Record) ctor.newInstance(args);
        } catch (java.lang.reflect.InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof MmuException m)
                throw m;
            throw new MmuException(Errno.EINVAL, "snapshot %s is inconsistent: %s", path,
                    cause == null ? "refused" : cause.getClass().getSimpleName());
        } catch (ReflectiveOperationException e) {
            throw new MmuException(Errno.EINVAL, "snapshot %s cannot be rebuilt", path);
        }
    }

    @SuppressWarnings({ "unchecked", "rawtypes" })
    private static Object value(Object v, Class<?> type, Type generic, String path) {
        if (v == null)
            throw new MmuException(Errno.EINVAL, "snapshot %s is null", path);
        if (type.isRecord()) {
            if (!(v instanceof Map<?, ?> m))
                throw wrong(v, type, path);
            return record(m, type, path);
        }
        if (type.isEnum()) {
            if (!(v instanceof String s))
                throw wrong(v, type, path);
            try {
                return Enum.valueOf((Class) type, s);
            } catch (IllegalArgumentException e) {
                throw new MmuException(Errno.EINVAL, "snapshot %s=%s is not a %s", path, s, type.getSimpleName());
            }
        }
        if (type == List.class) {
            if (!(v instanceof List<?> list))
                throw wrong(v, type, path);
            Type element = generic instanceof ParameterizedType p ? p.getActualTypeArguments()[0] : Object.class;
            Class<?> raw = element instanceof Class<?> c ? c
                    : element instanceof ParameterizedType p ? (Class<?>) p.getRawType() : Object.class;
            List<Object> out = new ArrayList<>(list.size());
            for (int i = 0; i < list.size(); i++)
                out.add(raw == Object.class ? list.get(i) : value(list.get(i), raw, element, path + "[" + i + "]"));
            return List.copyOf(out);
        }
        Class<?> boxed = box(type);
        if (type.isArray()) {
            if (!type.isInstance(v))
                throw wrong(v, type, path);
            int n = Array.getLength(v);
            Object copy = Array.newInstance(type.getComponentType(), n);
            System.arraycopy(v, 0, copy, 0, n);
            return copy;
        }
        if (!boxed.isInstance(v))
            throw wrong(v, type, path);
        return v;
    }

    private static MmuException wrong(Object v, Class<?> type, String path) {
        return new MmuException(Errno.EINVAL, "snapshot %s is a %s where %s is expected", path,
                v.getClass().getSimpleName(), type.getSimpleName());
    }

    private static Class<?> box(Class<?> t) {
        if (!t.isPrimitive())
            return t;
        if (t == int.class)
            return Integer.class;
        if (t == long.class)
            return Long.class;
        if (t == boolean.class)
            return Boolean.class;
        if (t == byte.class)
            return Byte.class;
        if (t == short.class)
            return Short.class;
        if (t == char.class)
            return Character.class;
        if (t == double.class)
            return Double.class;
        return Float.class;
    }
}
