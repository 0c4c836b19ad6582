package org.tdplab.mmu.tdp.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.mmu.tdp.vm.TestVms.M2;
import static org.tdplab.mmu.tdp.vm.TestVms.assertClean;
import static org.tdplab.mmu.tdp.vm.TestVms.slot;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Encoding;
import org.tdplab.mmu.api.PageSize;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.MmuView;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmCapabilities;

/**
 * What the data oracle and a backend's view make of memslot changes: a deleted slot's data is gone (a new slot at
 * the same place reads fresh pages), a moved slot's data moves with it; the view lists the leaves and the tables of
 * the roots of a kind.
 */
class MemslotDataTest {
    @Test
    void deletedDataIsGoneAndMovedDataMoves() {
        CoreVm vm = TestVms.create(TestVms.ordinary(), 1);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertTrue(vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 7).completed());
        vm.deleteMemslot(0);
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertEquals(0L, vm.access(0, Access.READ, 0x3000, 0x1000, Encoding.CURRENT, 0).value(), "a fresh page");
        assertClean(vm);

        assertTrue(vm.access(0, Access.WRITE, 0x5000, 0x1000, Encoding.CURRENT, 9).completed());
        vm.moveMemslot(0, 4 * M2);
        assertEquals(9L, vm.access(0, Access.READ, 4 * M2 + 0x5000, 0x1000, Encoding.CURRENT, 0).value(),
                "the data moved with the slot");
        assertClean(vm);
        vm.moveMemslot(0, 8 * M2); // from a base that is not GFN 0
        assertEquals(9L, vm.access(0, Access.READ, 8 * M2 + 0x5000, 0x1000, Encoding.CURRENT, 0).value());
        slot(vm, 1, 4 * M2, M2, PageSize.SIZE_4K); // where the slot was: fresh pages, nothing expected of them
        assertEquals(0L, vm.access(0, Access.READ, 4 * M2 + 0x5000, 0x1000, Encoding.CURRENT, 0).value());
        assertClean(vm);
        vm.destroy();
    }

    @Test
    void aBackendsViewListsLeavesAndTablesOfItsRoots() {
        List<String> seen = new ArrayList<>();
        CoreVm vm = viewedBy(4247, "viewed", view -> {
            seen.clear();
            view.forEachLeaf(RootKind.DIRECT, (gfn, level, e) -> seen.add("leaf 0x" + Long.toHexString(gfn) + " "
                    + level));
            view.forEachTable(RootKind.DIRECT, (gfn, level, e) -> seen.add("table 0x" + Long.toHexString(gfn) + " "
                    + level));
            view.forEachLeaf(RootKind.MIRROR, (gfn, level, e) -> seen.add("mirror"));
            seen.add("private " + view.isPrivate(3));
        });
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        assertTrue(vm.access(0, Access.WRITE, 0x3000, 0x2000, Encoding.CURRENT, 1).completed());
        assertTrue(vm.check().ok());
        assertEquals(List.of("leaf 0x3 1", "leaf 0x4 1", "table 0x0 4", "table 0x0 3", "table 0x0 2",
                "private false"), seen);
        vm.destroy();
    }

    /**
     * The fields form of the view ({@link MmuView.FieldVisitor}) visits what the decoded form does, field for field:
     * a writable leaf, a read-only slot's leaf (writes not allowed, reads and fetches allowed), and the tables.
     */
    @Test
    void theFieldsFormVisitsWhatTheDecodedFormDoes() {
        List<String> decoded = new ArrayList<>();
        List<String> fields = new ArrayList<>();
        CoreVm vm = viewedBy(4248, "fields", view -> {
            decoded.clear();
            fields.clear();
            view.forEachLeaf(RootKind.DIRECT, (gfn, level, e) -> decoded.add(line("leaf", gfn, level, e.pfn(),
                    e.readable(), e.writable(), e.executable())));
            view.forEachTable(RootKind.DIRECT, (gfn, level, e) -> decoded.add(line("table", gfn, level, e.pfn(),
                    e.readable(), e.writable(), e.executable())));
            view.forEachLeaf(RootKind.DIRECT, (gfn, level, pfn, r, w, x) -> fields.add(line("leaf", gfn, level, pfn,
                    r, w, x)));
            view.forEachTable(RootKind.DIRECT, (gfn, level, pfn, r, w, x) -> fields.add(line("table", gfn, level,
                    pfn, r, w, x)));
        });
        slot(vm, 0, 0, M2, PageSize.SIZE_4K);
        slot(vm, 1, M2, M2, PageSize.SIZE_4K, org.tdplab.mmu.api.SlotFlag.READONLY);
        assertTrue(vm.access(0, Access.WRITE, 0x3000, 0x1000, Encoding.CURRENT, 1).completed());
        assertTrue(vm.access(0, Access.READ, M2 + 0x5000, 0x1000, Encoding.CURRENT, 0).completed());
        assertTrue(vm.check().ok());
        assertEquals(decoded, fields);
        assertEquals(6, fields.size(), "two leaves, four tables: " + fields);
        assertTrue(fields.get(0).startsWith("leaf 0x3 1 ") && fields.get(0).endsWith(" rwx"), fields.get(0));
        assertTrue(fields.get(1).startsWith("leaf 0x205 1 ") && fields.get(1).endsWith(" r-x"), fields.get(1));
        vm.destroy();
    }

    /** An ordinary VM whose backend's check ({@link VmBackend#check}) hands its view to {@code visit}. */
    private static CoreVm viewedBy(int id, String type, Consumer<MmuView> visit) {
        VmCapabilities caps = VmCapabilities.ordinary(type, 48);
        return new CoreVm(id, type, type, 1, caps, TestVms.MEMORY, TestVms.backend(caps, c -> new VmBackend() {
            @Override
            public List<String> check(MmuView view) {
                visit.accept(view);
                return List.of();
            }
        }), Map.of(), new CopyOnWriteArrayList<>(), v -> {
        });
    }

    private static String line(String what, long gfn, int level, long pfn, boolean r, boolean w, boolean x) {
        return what + " 0x" + Long.toHexString(gfn) + " " + level + " pfn 0x" + Long.toHexString(pfn) + " "
                + (r ? "r" : "-") + (w ? "w" : "-") + (x ? "x" : "-");
    }
}
