package org.tdplab.mmu.tdp.mmu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.RootKind;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.SpteChange;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.tdp.spte.Spte;

/**
 * The hooks of backend-owned tables: what the backend is told about an entry (pfn and permissions read once), how
 * often a busy split is retried, and the bug reason naming the hook, the entry and the backend's answer.
 */
class ExternalTablesTest {
    private final MmuHarness h = MmuHarness.ordinary();
    private final ExternalTables ext = new ExternalTables(h);
    private final List<SpteChange> seen = new ArrayList<>();

    @Test
    void anEntryIsDecodedOnceWithItsPfnAndPermissions() {
        int l4k = Spte.PG_LEVEL_4K, l2m = Spte.PG_LEVEL_2M;
        assertEquals(SpteChange.Entry.ABSENT, ExternalTables.decode(Spte.SHADOW_NONPRESENT_VALUE, l4k));
        assertEquals(SpteChange.Entry.table(0x1234), ExternalTables.decode(Spte.makeNonLeaf(0x1234, false), l2m));
        long rwx = Spte.makeLeaf(0x55, l4k, true, true, true, true, false);
        assertEquals(SpteChange.Entry.leaf(0x55, true, true, true), ExternalTables.decode(rwx, l4k));
        long rx = Spte.makeLeaf(0x56, l4k, false, true, true, true, false);
        assertEquals(SpteChange.Entry.leaf(0x56, true, false, true), ExternalTables.decode(rx, l4k));
        long r = Spte.makeLeaf(0x57, l4k, false, true, false, true, false);
        assertEquals(SpteChange.Entry.leaf(0x57, true, false, false), ExternalTables.decode(r, l4k));
        long huge = Spte.makeLeaf(0x200, l2m, true, true, false, true, false);
        assertEquals(SpteChange.Entry.leaf(0x200, true, true, false), ExternalTables.decode(huge, l2m));
        assertEquals(SpteChange.Entry.leaf(0x58, false, true, false),
                ExternalTables.decode(Spte.makeLeaf(0x58, l4k, true, true, false, true, false) & ~Spte.R, l4k));
    }

    /**
     * An install reaches the backend as its fields ({@code installExternalSpte}); one that does not override it gets
     * the decoded change through {@code setExternalSpte}, as before: the same entry either way.
     */
    @Test
    void anInstallIsHandedOverAsFieldsOrByDefaultAsTheDecodedChange() {
        long leaf = Spte.makeLeaf(0x77, Spte.PG_LEVEL_4K, false, true, true, true, false);
        long table = Spte.makeNonLeaf(0x88, false);
        h.backend = new VmBackend() {
            @Override
            public HookStatus setExternalSpte(SpteChange change) {
                seen.add(change);
                return HookStatus.OK;
            }
        };
        assertTrue(ext.install(RootKind.MIRROR, 0x10, Spte.PG_LEVEL_4K, Spte.SHADOW_NONPRESENT_VALUE, leaf).isOk());
        assertTrue(ext.install(RootKind.DIRECT, 0x200, Spte.PG_LEVEL_2M, Spte.SHADOW_NONPRESENT_VALUE, table).isOk());
        assertEquals(List.of(new SpteChange(RootKind.MIRROR, 0x10, Spte.PG_LEVEL_4K, SpteChange.Entry.ABSENT,
                SpteChange.Entry.leaf(0x77, true, false, true)), new SpteChange(RootKind.DIRECT, 0x200,
                        Spte.PG_LEVEL_2M, SpteChange.Entry.ABSENT, SpteChange.Entry.table(0x88))), seen);

        List<String> fields = new ArrayList<>();
        h.backend = new VmBackend() {
            @Override
            public HookStatus setExternalSpte(SpteChange change) {
                throw new AssertionError("an install comes as fields");
            }

            @Override
            public HookStatus installExternalSpte(RootKind root, long gfn, int level, boolean isLeaf, long pfn,
                    boolean r, boolean w, boolean x) {
                fields.add(root + " " + gfn + " " + level + " " + isLeaf + " " + pfn + " " + r + w + x);
                return HookStatus.BUSY;
            }
        };
        assertEquals(HookStatus.BUSY, ext.install(RootKind.MIRROR, 0x10, Spte.PG_LEVEL_4K,
                Spte.SHADOW_NONPRESENT_VALUE, leaf));
        assertEquals(HookStatus.BUSY, ext.install(RootKind.MIRROR, 0x200, Spte.PG_LEVEL_2M,
                Spte.SHADOW_NONPRESENT_VALUE, table));
        assertEquals(List.of("MIRROR 16 1 true 119 truefalsetrue", "MIRROR 512 2 false 136 truetruetrue"), fields);
        assertTrue(h.bugs.isEmpty(), h.bugs::toString);
    }

    /**
     * A leaf's removal reaches the backend as the old leaf's fields ({@code removeExternalSpte}); one that does not
     * override it gets the decoded change through {@code setExternalSpte}, as before: the same entry either way. An
     * entry that is no present leaf still goes as a change, for the backend to refuse.
     */
    @Test
    void aLeafRemovalIsHandedOverAsFieldsOrByDefaultAsTheDecodedChange() {
        long leaf = Spte.makeLeaf(0x77, Spte.PG_LEVEL_4K, false, true, true, true, false);
        long huge = Spte.makeLeaf(0x400, Spte.PG_LEVEL_2M, true, true, false, true, false);
        h.backend = new VmBackend() {
            @Override
            public HookStatus setExternalSpte(SpteChange change) {
                seen.add(change);
                return HookStatus.OK;
            }
        };
        ext.removeLeaf(RootKind.MIRROR, 0x10, Spte.PG_LEVEL_4K, leaf);
        ext.removeLeaf(RootKind.DIRECT, 0x400, Spte.PG_LEVEL_2M, huge);
        assertEquals(List.of(new SpteChange(RootKind.MIRROR, 0x10, Spte.PG_LEVEL_4K,
                SpteChange.Entry.leaf(0x77, true, false, true), SpteChange.Entry.ABSENT), new SpteChange(
                        RootKind.DIRECT, 0x400, Spte.PG_LEVEL_2M, SpteChange.Entry.leaf(0x400, true, true, false),
                        SpteChange.Entry.ABSENT)), seen);
        assertTrue(seen.stream().allMatch(SpteChange::isLeafRemoval));

        List<String> fields = new ArrayList<>();
        seen.clear();
        h.backend = new VmBackend() {
            @Override
            public HookStatus setExternalSpte(SpteChange change) {
                seen.add(change);
                return HookStatus.OK;
            }

            @Override
            public HookStatus removeExternalSpte(RootKind root, long gfn, int level, long pfn, boolean r, boolean w,
                    boolean x) {
                fields.add(root + " " + gfn + " " + level + " " + pfn + " " + r + w + x);
                return HookStatus.OK;
            }
        };
        ext.removeLeaf(RootKind.MIRROR, 0x10, Spte.PG_LEVEL_4K, leaf);
        ext.removeLeaf(RootKind.MIRROR, 0x400, Spte.PG_LEVEL_2M, huge);
        assertEquals(List.of("MIRROR 16 1 119 truefalsetrue", "MIRROR 1024 2 1024 truetruefalse"), fields);
        assertEquals(List.of(), seen, "a present leaf never comes as a change");
        ext.removeLeaf(RootKind.MIRROR, 0x800, Spte.PG_LEVEL_2M, Spte.makeNonLeaf(0x99, false));
        assertEquals(1, seen.size(), "a table entry comes as the decoded change");
        assertEquals(SpteChange.Entry.table(0x99), seen.get(0).before());
        assertTrue(h.bugs.isEmpty(), h.bugs::toString);
    }

    @Test
    void aBusySplitIsRetriedABoundedNumberOfTimes() {
        int[] busy = { ExternalTables.SPLIT_BUSY_RETRIES };
        h.backend = new VmBackend() {
            @Override
            public HookStatus splitExternalSpt(SpteChange change) {
                seen.add(change);
                return busy[0]-- > 0 ? HookStatus.BUSY : HookStatus.OK;
            }
        };
        long huge = Spte.makeLeaf(0x400, Spte.PG_LEVEL_2M, true, true, false, true, false);
        long table = Spte.makeNonLeaf(0x999, false);
        assertTrue(ext.split(RootKind.MIRROR, 0x400, Spte.PG_LEVEL_2M, huge, table), "OK on the last try");
        assertEquals(ExternalTables.SPLIT_BUSY_RETRIES + 1, seen.size());
        assertTrue(seen.get(0).isSplit());
        assertEquals(0x400, seen.get(0).gfn());
        assertTrue(h.bugs.isEmpty(), h.bugs::toString);

        seen.clear();
        busy[0] = ExternalTables.SPLIT_BUSY_RETRIES + 1;
        assertFalse(ext.split(RootKind.MIRROR, 0x400, Spte.PG_LEVEL_2M, huge, table));
        assertEquals(ExternalTables.SPLIT_BUSY_RETRIES + 1, seen.size(), "never more than the bound");
        assertEquals(List.of("split_external_spt failed for gfn 0x400 level 2 (busy 65 times): " + HookStatus.BUSY),
                h.bugs);
    }

    @Test
    void aFailingHookBugsTheVmNamingTheHookAndTheEntry() {
        HookStatus eio = HookStatus.error(Errno.EIO, "firmware said no");
        h.backend = new VmBackend() {
            @Override
            public HookStatus setExternalSpte(SpteChange change) {
                seen.add(change);
                return change.isInstall() ? eio : HookStatus.BUSY;
            }

            @Override
            public HookStatus splitExternalSpt(SpteChange change) {
                return eio;
            }

            @Override
            public HookStatus freeExternalSpt(RootKind root, long gfn, int level) {
                return eio;
            }
        };
        long leaf = Spte.makeLeaf(0x10, Spte.PG_LEVEL_4K, true, true, true, true, false);
        assertEquals(eio, ext.install(RootKind.MIRROR, 0x10, 1, Spte.SHADOW_NONPRESENT_VALUE, leaf));
        ext.removeLeaf(RootKind.MIRROR, 0x11, 1, leaf);
        assertTrue(seen.get(1).isLeafRemoval());
        assertEquals(SpteChange.Entry.ABSENT, seen.get(1).after());
        assertFalse(ext.split(RootKind.MIRROR, 0x200, 2, leaf, leaf));
        ext.freeTable(RootKind.MIRROR, 0x400, 2);
        assertEquals(List.of("set_external_spte failed to install gfn 0x10 level 1: " + eio,
                "remove_external_spte failed for gfn 0x11 level 1: " + HookStatus.BUSY,
                "split_external_spt failed for gfn 0x200 level 2: " + eio,
                "free_external_spt failed for the table at gfn 0x400 level 2: " + eio), h.bugs);

        h.bugs.clear();
        h.backend = new VmBackend() {
            @Override
            public HookStatus setExternalSpte(SpteChange change) {
                return HookStatus.BUSY;
            }
        };
        assertEquals(HookStatus.BUSY, ext.install(RootKind.MIRROR, 0x10, 1, Spte.SHADOW_NONPRESENT_VALUE, leaf));
        assertTrue(h.bugs.isEmpty(), "a busy install is retried by the fault, not a bug");
    }
}
