package org.tdplab.mmu.tdp.vm;

import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.backend.VmBackend;

/**
 * Which of the hooks a backend is asked at every guest access ({@link VmBackend#runRefusal},
 * {@link VmBackend#failEntry}, {@link VmBackend#checkAccess}) its class overrides. One that keeps the interface's
 * default answers what that default answers (null; the walk's own translation) without the call: with more than
 * two VM types in one JVM each such call site is megamorphic, an interface dispatch the JIT cannot inline, three
 * per demand fault. Found once per backend object (a swap brings another), by reflection on its class.
 */
final class AccessHooks {
    static final AccessHooks NONE = new AccessHooks(null, true, true, true);

    final VmBackend backend;
    final boolean runRefusal, failEntry, checkAccess;

    private AccessHooks(VmBackend backend, boolean runRefusal, boolean failEntry, boolean checkAccess) {
        this.backend = backend;
        this.runRefusal = runRefusal;
        this.failEntry = failEntry;
        this.checkAccess = checkAccess;
    }

    /** The hooks of {@code backend}, whose class may override any of them (true: ask it). */
    static AccessHooks of(VmBackend backend) {
        Class<?> c = backend.getClass();
        return new AccessHooks(backend, overrides(c, "runRefusal", int.class), overrides(c, "failEntry", int.class),
                overrides(c, "checkAccess", int.class, long.class, long.class, int.class, boolean.class,
                        Access.class));
    }

    /** Whether {@code c}'s method {@code name} is another than {@link VmBackend}'s default; true when unsure. */
    static boolean overrides(Class<?> c, String name, Class<?>... params) {
        try {
            return c.getMethod(name, params).getDeclaringClass() != VmBackend.class;
        } catch (NoSuchMethodException | SecurityException e) {
            return true;
        }
    }
}
