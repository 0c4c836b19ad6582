package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.DirtyLogOptions;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.MmuObserver;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.backend.VerbArgs;

/**
 * The trace text of the VMM's operations, word for word (a replay parses it back), and which operations are
 * recorded: only the outermost of a thread, and its errno when it fails.
 */
class OperationStreamTest {
    @Test
    void eachOperationIsItsIoctlAndItsWords() {
        assertEquals("KVM_CREATE_VM type=confidential vcpus=2 gpaw=52 shared_bit=51 option.a=1 option.b=x",
                OperationStream.createVm("confidential", 2, 52, 51, Map.of("b", "x", "a", "1")));
        assertEquals("KVM_CREATE_VM type=default vcpus=1 gpaw=48", OperationStream.createVm("default", 1, 48, -1,
                Map.of()));
        assertEquals("KVM_SET_USER_MEMORY_REGION2 slot=3 size=0x0", OperationStream.deleteMemslot(3));
        assertEquals("KVM_SET_USER_MEMORY_REGION2 slot=3 move=0x200000", OperationStream.moveMemslot(3, 0x200000));
        assertEquals("KVM_SET_USER_MEMORY_REGION2 slot=1 log_dirty_pages=1 eager_split=0 initially_set=1 "
                + "manual_protect=1",
                OperationStream.dirtyLogging(1, true, new DirtyLogOptions(false, true)));
        assertEquals("KVM_SET_USER_MEMORY_REGION2 slot=1 log_dirty_pages=0 eager_split=1 initially_set=0 "
                + "manual_protect=0",
                OperationStream.dirtyLogging(1, false, new DirtyLogOptions(true, false)));
        assertEquals("KVM_GET_DIRTY_LOG slot=2", OperationStream.getDirtyLog(2));
        assertEquals("KVM_CLEAR_DIRTY_LOG slot=2 gpa=0x1000 size=0x40000",
                OperationStream.clearDirtyLog(2, 0x1000, 0x40000));
        assertEquals("guest_accept vcpu=1 gpa=0x200000 size=0x200000 level=2M",
                OperationStream.accept(1, 0x200000, 0x200000, PageSize.SIZE_2M));
        assertEquals("zap gpa=0x0 size=0x1000", OperationStream.ranged("zap", 0, 0x1000));
        assertEquals("KVM_PRE_FAULT_MEMORY vcpu=0 gpa=0x3000 size=0x2000", OperationStream.prefault(0, 0x3000,
                0x2000));
    }

    @Test
    void aVerbWritesEachOptionAsTheScenarioLanguageDoes() {
        VerbArgs args = new VerbArgs("v", Map.of("gpa", -1L, "level", 2, "on", true, "off", false, "name", "x"),
                Set.of("zero", "unmeasured"));
        assertEquals("backend_verb name=acme.v option.gpa=18446744073709551615 option.level=2M option.name=x "
                + "option.off=off option.on=on flags=unmeasured,zero", OperationStream.verb("acme.v", args));
        assertEquals("backend_verb name=v", OperationStream.verb("v", VerbArgs.none("v")));
    }

    @Test
    void onlyTheOutermostOperationIsRecordedWithItsErrno() {
        List<String> seen = new ArrayList<>();
        OperationStream ops = new OperationStream(new Tracer("vm", List.of(new MmuObserver() {
            @Override
            public void vmOperation(String vm, String operation) {
                seen.add(operation);
            }

            @Override
            public void vmOperationFailed(String vm, String errno) {
                seen.add("failed " + errno);
            }
        })));
        assertFalse(ops.inside());
        int r = ops.call(() -> "outer", () -> {
            assertTrue(ops.inside());
            ops.run(() -> "inner", () -> assertTrue(ops.inside()));
            return 7;
        });
        assertEquals(7, r);
        assertFalse(ops.inside());
        assertThrows(MmuException.class, () -> ops.run(() -> "refused", () -> {
            throw new MmuException(Errno.EINVAL, "no");
        }));
        assertFalse(ops.inside(), "left even when refused");
        assertEquals(List.of("outer", "refused", "failed EINVAL"), seen);

        OperationStream quiet = new OperationStream(new Tracer("vm", List.of()));
        assertEquals(3, quiet.call(() -> {
            throw new AssertionError("no text is built when nobody listens");
        }, () -> 3));
    }
}
