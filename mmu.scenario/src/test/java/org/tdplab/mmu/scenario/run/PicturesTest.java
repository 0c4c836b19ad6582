package org.tdplab.mmu.scenario.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.RootKind;

/** The picture's runs stay exact while few, and bounded when many; the history stays bounded whatever the run. */
class PicturesTest {
    @Test
    void fewRunsStayExactAndEqualNeighboursMerge() {
        Pictures.Runs r = new Pictures.Runs(100);
        r.add(0, 0x1000, 1);
        r.add(0x1000, 0x3000, 1);
        r.add(0x3000, 0x4000, 0);
        r.add(0x4000, 0x400000, 2);
        assertEquals(List.of(new VmPicture.Region(0, 0x3000, 1), new VmPicture.Region(0x3000, 0x1000, 0),
                new VmPicture.Region(0x4000, 0x3fc000, 2)), r.done());
        assertEquals(4096, r.granule());
        assertEquals(3, r.seen());
    }

    @Test
    void manyRunsAreMergedIntoGranulesThatCoverTheLaneExactly() {
        Pictures.Runs r = new Pictures.Runs(1000);
        long at = 0x100000; // every other 4K page mapped over 1 GiB, then a 2M-mapped stretch
        for (int i = 0; i < 262_144; i++, at += 0x1000)
            r.add(at, at + 0x1000, i % 2);
        r.add(at, at + (64L << 20), 2);
        List<VmPicture.Region> runs = r.done();
        assertTrue(runs.size() <= 1000, runs.size() + " runs");
        assertEquals(262_145, r.seen());
        assertTrue(Long.bitCount(r.granule()) == 1 && r.granule() > 4096, Long.toHexString(r.granule()));
        long end = 0x100000;
        for (VmPicture.Region g : runs) {
            assertEquals(end, g.gpa(), "contiguous");
            end = g.gpa() + g.size();
        }
        assertEquals(at + (64L << 20), end, "the lane is covered to its end");
        assertEquals(VmPicture.Region.MIXED, runs.get(0).level());
        assertEquals(2, runs.get(runs.size() - 1).level(), "a long uniform stretch keeps its state");
    }

    @Test
    void theHistoryKeepsTheFirstAndLastEventsOfEachRegionAndBoundsTheRegions() {
        RegionHistory h = new RegionHistory();
        long none = 0x8000000000000000L, leaf = 0x907L | (1L << 11);
        for (int i = 0; i < 10; i++) {
            h.line(i + 1);
            h.spteChanged("vm", 0, RootKind.DIRECT, 3, 1, i % 2 == 0 ? none : leaf, i % 2 == 0 ? leaf : none);
        }
        h.spteChanged("vm", 0, RootKind.DIRECT, 3, 1, leaf, leaf | (1L << 8)); // A/D only: not an event
        h.firmwareCall("vm", "X.CALL", 3, 1, "X_OPERAND_BUSY");
        h.firmwareCall("vm", "X.CALL", -1, 0, "X_SUCCESS");
        RegionHistory.History one = h.of("vm");
        // gfn 3 level 1: 11 events, the first 2 and last 6 kept; the VM-wide call kept apart
        assertEquals(List.of(1, 2, 6, 7, 8, 9, 10, 10, 10),
                one.events().stream().map(RegionHistory.Event::line).toList());
        assertEquals(3, one.omitted());
        assertEquals(java.util.Map.of("X_OPERAND_BUSY", 1L, "X_SUCCESS", 1L), one.calls().get("X.CALL"));
        for (long gfn = 0; gfn < RegionHistory.REGIONS + 10; gfn++)
            h.spteChanged("big", 0, RootKind.DIRECT, gfn, 1, none, leaf);
        assertEquals(RegionHistory.REGIONS, h.of("big").events().size());
        assertEquals(10, h.of("big").untracked());
        assertTrue(h.of("nobody").events().isEmpty());
    }

    @Test
    void aFailedCallIsOneWhoseStatusIsNeitherSuccessNorAnExitOnTheWay() {
        assertFalse(RegionHistory.failed("TDX_SUCCESS"));
        assertFalse(RegionHistory.failed("SUCCESS"));
        assertFalse(RegionHistory.failed("TD_EXIT(EPT_VIOLATION)"));
        assertFalse(RegionHistory.failed("TDX_INTERRUPTED_RESUMABLE"));
        assertFalse(RegionHistory.failed(""));
        assertTrue(RegionHistory.failed("TDX_OPERAND_BUSY|SEPT_TREE"));
        assertTrue(RegionHistory.failed("FAIL_SIZEMISMATCH"));
        assertTrue(RegionHistory.failed("INVALID_PAGE_STATE"));
    }
}
