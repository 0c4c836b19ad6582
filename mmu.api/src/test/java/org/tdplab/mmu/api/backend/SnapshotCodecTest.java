package org.tdplab.mmu.api.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;

/** Typed snapshots round-trip as plain data; a snapshot that differs is refused naming what differs. */
class SnapshotCodecTest {
    enum Phase { LAUNCH, RUNNING }

    record Cpu(long[] pages, int level) {
    }

    record State(int hkid, boolean assigned, Phase phase, byte[] blob, List<Cpu> cpus, List<String> notes) {
    }

    private static State sample() {
        return new State(7, true, Phase.RUNNING, new byte[] { 1, 2 },
                List.of(new Cpu(new long[] { 5, 6 }, 1), new Cpu(new long[0], 2)), List.of("a"));
    }

    @Test
    void aRecordRoundTripsAsPlainData() {
        Map<String, Object> plain = SnapshotCodec.encode(3, sample());
        assertEquals(3, plain.get(Backend.SNAPSHOT_VERSION));
        assertEquals("State", plain.get(SnapshotCodec.FORMAT));
        assertEquals("RUNNING", plain.get("phase"));
        assertTrue(plain.get("cpus") instanceof List<?> l && l.get(0) instanceof Map<?, ?>, plain.toString());
        State back = SnapshotCodec.decode(plain, 3, State.class);
        assertEquals(7, back.hkid());
        assertEquals(Phase.RUNNING, back.phase());
        assertArrayEquals(new long[] { 5, 6 }, back.cpus().get(0).pages());
        assertEquals(2, back.cpus().get(1).level());
        assertArrayEquals(new byte[] { 1, 2 }, back.blob());
        assertEquals(List.of("a"), back.notes());
    }

    @Test
    void whatDiffersIsNamed() {
        Map<String, Object> plain = SnapshotCodec.encode(3, sample());
        assertRefused(() -> SnapshotCodec.decode(plain, 4, State.class), "version 3");
        assertRefused(() -> SnapshotCodec.decode(plain, 3, Cpu.class), "format State is not Cpu");
        Map<String, Object> lacking = new LinkedHashMap<>(plain);
        lacking.remove("hkid");
        assertRefused(() -> SnapshotCodec.decode(lacking, 3, State.class), "lacks State.hkid");
        Map<String, Object> extra = new LinkedHashMap<>(plain);
        extra.put("asid", 1);
        assertRefused(() -> SnapshotCodec.decode(extra, 3, State.class), "[asid]");
        Map<String, Object> wrong = new LinkedHashMap<>(plain);
        wrong.put("hkid", 7L);
        assertRefused(() -> SnapshotCodec.decode(wrong, 3, State.class), "State.hkid is a Long where int");
        Map<String, Object> badEnum = new LinkedHashMap<>(plain);
        badEnum.put("phase", "GONE");
        assertRefused(() -> SnapshotCodec.decode(badEnum, 3, State.class), "State.phase=GONE");
        Map<String, Object> nested = new LinkedHashMap<>(plain);
        nested.put("cpus", List.of(Map.of("pages", new int[0], "level", 1)));
        assertRefused(() -> SnapshotCodec.decode(nested, 3, State.class), "State.cpus[0].pages is a int[]");
    }

    /** An older snapshot is carried forward step by step by the upgrades a backend gives, and only by them. */
    @Test
    void anOlderVersionIsUpgradedStepByStep() {
        Map<String, Object> v1 = new LinkedHashMap<>(SnapshotCodec.encode(1, sample()));
        v1.remove("notes");
        v1.put("counts", 9L);
        Map<Integer, java.util.function.UnaryOperator<Map<String, Object>>> upgrades = Map.of(
                1, m -> { // version 2 dropped the counts
                    m.remove("counts");
                    return m;
                },
                2, m -> { // version 3 added the notes
                    m.put("notes", List.of("from 2"));
                    return m;
                });
        State back = SnapshotCodec.decode(v1, 3, State.class, upgrades);
        assertEquals(List.of("from 2"), back.notes());
        assertEquals(7, back.hkid());
        assertEquals(9L, v1.get("counts"), "the snapshot given is not changed");
        assertRefused(() -> SnapshotCodec.decode(v1, 3, State.class, Map.of(2, upgrades.get(2))),
                "version 1 is incompatible (this backend restores version 3 and upgrades [2])");
        assertRefused(() -> SnapshotCodec.decode(v1, 3, State.class), "version 1 is incompatible");
        Map<String, Object> newer = SnapshotCodec.encode(4, sample());
        assertRefused(() -> SnapshotCodec.decode(newer, 3, State.class, upgrades), "version 4 is incompatible");
        assertRefused(() -> SnapshotCodec.decode(v1, 3, State.class, Map.of(1, upgrades.get(1), 2, m -> {
            m.put("notes", ((List<?>) m.get("hkid")).get(0));
            return m;
        })), "version 2 cannot be upgraded to 3 (ClassCastException)");
    }

    private static void assertRefused(org.junit.jupiter.api.function.Executable e, String naming) {
        MmuException x = assertThrows(MmuException.class, e);
        assertEquals(Errno.EINVAL, x.errno());
        assertTrue(x.reason().contains(naming), x.reason());
    }
}
