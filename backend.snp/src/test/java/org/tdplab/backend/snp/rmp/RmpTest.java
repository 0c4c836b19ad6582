package org.tdplab.backend.snp.rmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_ALL;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_R;
import static org.tdplab.backend.snp.rmp.RmpEntry.PERM_W;
import static org.tdplab.backend.snp.rmp.RmpEntry.SIZE_2M;
import static org.tdplab.backend.snp.rmp.RmpEntry.SIZE_4K;

import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** The RMP on its own: each instruction's success and each failure, in the order the hardware checks them. */
class RmpTest {
    static final int ASID = 5, OTHER = 6;
    static final long M2 = 2L << 20;
    /** A small host: 1 GiB. */
    /** One region past a chunk: two chunks, the second of one region. */
    final Rmp rmp = new Rmp((RegionTable.CHUNK + 1L) * 512, RmpCodes.DEFAULT);
    final RmpCodes c = RmpCodes.DEFAULT;

    /** pfn 0x1000 (a 2M-aligned frame) mapped at gpa 0x4000_0000. */
    static final long PFN = 0x1000, GPA = 0x4000_0000L;

    @AfterEach
    void invariantsHold() {
        assertEquals(List.of(), rmp.check());
    }

    int makePrivate(long pfn, long gpa, int size) {
        return rmp.rmpupdate(pfn, gpa, true, size, false, ASID);
    }

    int makeShared(long pfn, int size) {
        return rmp.rmpupdate(pfn, 0, false, size, false, 0);
    }

    /** Runs {@code r} while another thread holds the 2M region's lock (another CPU using the entry). */
    <T> T whileContended(long pfn, java.util.function.Supplier<T> r) throws InterruptedException {
        java.util.concurrent.locks.Lock lock = rmp.lockOf(pfn);
        CountDownLatch held = new CountDownLatch(1), done = new CountDownLatch(1);
        Thread other = new Thread(() -> {
            lock.lock();
            try {
                held.countDown();
                done.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                lock.unlock();
            }
        });
        other.start();
        held.await();
        try {
            return r.get();
        } finally {
            done.countDown();
            other.join();
        }
    }

    @Nested
    class Rmpupdate {
        @Test
        void assignsA4kPageUnvalidatedWithVmpl0Permissions() {
            assertEquals(RmpCodes.SUCCESS, makePrivate(PFN + 3, GPA + 0x3000, SIZE_4K));
            long lo = rmp.lo(PFN + 3);
            assertTrue(RmpEntry.assigned(lo));
            assertFalse(RmpEntry.is2M(lo));
            assertFalse(RmpEntry.validated(lo));
            assertEquals(ASID, RmpEntry.asid(lo));
            assertEquals(GPA + 0x3000, RmpEntry.gpa(lo));
            assertEquals(PERM_ALL, RmpEntry.perms(rmp.hi(PFN + 3), 0));
            assertEquals(0, RmpEntry.perms(rmp.hi(PFN + 3), 1));
            assertEquals(1, rmp.assignedPages(ASID));
            assertEquals(1, rmp.privateLevel(PFN + 3));
            assertEquals(0, rmp.privateLevel(PFN + 4));
        }

        @Test
        void assignsA2mPageThatGovernsTheRegion() {
            assertEquals(RmpCodes.SUCCESS, makePrivate(PFN, GPA, SIZE_2M));
            assertEquals(512, rmp.assignedPages(ASID));
            assertEquals(2, rmp.privateLevel(PFN + 77));
            assertEquals(GPA + 77 * 4096, rmp.gpaOf(PFN + 77));
            assertEquals(0, rmp.lo(PFN + 77), "the 511 other entries stay zero");
            assertEquals(RmpCodes.SUCCESS, makeShared(PFN, SIZE_2M));
            assertEquals(RmpEntry.PAGE_SIZE, rmp.lo(PFN), "rmp_make_shared keeps the page size");
            assertFalse(rmp.isAssigned(PFN + 77));
            assertEquals(0, rmp.assignedPages(ASID));
        }

        @Test
        void clearsValidatedAndVmsa() {
            makePrivate(PFN, GPA, SIZE_4K);
            assertEquals(0, rmp.pvalidate(PFN, GPA, SIZE_4K, true, ASID));
            assertEquals(0, rmp.rmpadjust(PFN, GPA, SIZE_4K, 0, 1 | 1L << 16, ASID));
            assertTrue(RmpEntry.validated(rmp.lo(PFN)) && RmpEntry.vmsa(rmp.lo(PFN)));
            assertEquals(RmpCodes.SUCCESS, makePrivate(PFN, GPA, SIZE_4K));
            assertFalse(RmpEntry.validated(rmp.lo(PFN)));
            assertFalse(RmpEntry.vmsa(rmp.lo(PFN)));
        }

        @Test
        void failInputForBadOperands() {
            assertEquals(c.failInput(), makePrivate(rmp.frames(), 0, SIZE_4K), "not covered");
            assertEquals(c.failInput(), makePrivate(-1, 0, SIZE_4K), "not covered");
            assertEquals(c.failInput(), makePrivate(PFN + 1, GPA, SIZE_2M), "2M update off a 2M frame");
            assertEquals(c.failInput(), makePrivate(PFN, GPA + 0x1000, SIZE_2M), "2M page at an unaligned GPA");
            assertEquals(c.failInput(), makePrivate(PFN, GPA | 0x10, SIZE_4K), "GPA with offset bits");
            assertEquals(c.failInput(), makePrivate(PFN, 1L << 51, SIZE_4K), "GPA beyond bit 50");
            assertEquals(c.failInput(), rmp.rmpupdate(PFN, GPA, true, 2, false, ASID), "page size 2");
            assertEquals(c.failInput(), rmp.rmpupdate(PFN, GPA, true, SIZE_4K, false, 1024), "ASID beyond the field");
            assertEquals(c.failInput(), rmp.rmpupdate(PFN, 0, false, SIZE_4K, false, ASID), "unassigned with an ASID");
            assertEquals(c.failInput(), rmp.rmpupdate(PFN, GPA, false, SIZE_4K, false, 0), "unassigned with a GPA");
            assertEquals(c.failInput(), rmp.rmpupdate(PFN, 0, false, SIZE_4K, true, 0), "unassigned immutable");
            assertEquals(0, rmp.lo(PFN));
        }

        @Test
        void failPermissionOnAnImmutableEntry() {
            assertEquals(0, rmp.rmpupdate(PFN, GPA, true, SIZE_4K, true, ASID));
            assertEquals(c.failPermission(), makeShared(PFN, SIZE_4K));
            assertEquals(c.failInput(), makePrivate(PFN, GPA | 1, SIZE_4K), "input is checked first");
            assertTrue(rmp.firmwareReclaim(PFN));
            assertEquals(0, makeShared(PFN, SIZE_4K));
        }

        @Test
        void failInuseForAPageOfARunningVmrun() {
            rmp.setInUse(PFN + 5, true);
            assertEquals(c.failInuse(), makePrivate(PFN + 5, GPA, SIZE_4K));
            assertEquals(c.failInuse(), makePrivate(PFN, GPA, SIZE_2M), "a 2M update covers the in-use page");
            assertEquals(0, rmp.rmpupdate(PFN + 6, 0, true, SIZE_4K, true, 0));
            rmp.setInUse(PFN + 6, true);
            assertEquals(c.failPermission(), makeShared(PFN + 6, SIZE_4K), "permission is checked before in-use");
            rmp.setInUse(PFN + 5, false);
            rmp.setInUse(PFN + 6, false);
            assertEquals(0, makePrivate(PFN + 5, GPA, SIZE_4K));
            assertTrue(rmp.firmwareReclaim(PFN + 6));
            assertEquals(0, makeShared(PFN + 6, SIZE_4K));
        }

        @Test
        void failOverlapBetween4kAnd2mPages() {
            assertEquals(0, makePrivate(PFN, GPA, SIZE_2M));
            assertEquals(c.failOverlap(), makePrivate(PFN + 9, GPA + 0x9000, SIZE_4K), "4K inside a 2M page");
            assertEquals(c.failOverlap(), makeShared(PFN + 9, SIZE_4K), "4K inside a 2M page");
            assertEquals(c.failOverlap(), makeShared(PFN, SIZE_4K), "4K on the 2M entry itself");
            rmp.setInUse(PFN + 9, true);
            assertEquals(c.failInuse(), makeShared(PFN + 9, SIZE_4K), "in-use is checked before overlap");
            rmp.setInUse(PFN + 9, false);
            assertEquals(0, makeShared(PFN, SIZE_2M));

            assertEquals(0, makePrivate(PFN + 511, GPA + 511 * 4096, SIZE_4K));
            assertEquals(c.failOverlap(), makePrivate(PFN, GPA, SIZE_2M), "2M over an assigned 4K page");
            assertEquals(0, makeShared(PFN + 511, SIZE_4K));
            assertEquals(0, makePrivate(PFN, GPA, SIZE_4K));
            assertEquals(c.failOverlap(), makePrivate(PFN, GPA, SIZE_2M), "2M over its own 4K assignment");
            assertEquals(0, makeShared(PFN, SIZE_4K));
            assertEquals(0, makePrivate(PFN, GPA, SIZE_2M));
            assertEquals(0, makeShared(PFN, SIZE_2M));
        }

        @Test
        void failOverlapWhileAnotherCpuUpdatesTheRegion() throws InterruptedException {
            assertEquals(c.failOverlap(), (int) whileContended(PFN, () -> makePrivate(PFN + 1, GPA, SIZE_4K)));
            assertEquals(0, makePrivate(PFN + 1, GPA, SIZE_4K), "transient: the retry succeeds");
            assertEquals(0, makeShared(PFN + 1, SIZE_4K));
        }
    }

    @Nested
    class Psmash {
        @Test
        void splitsA2mEntryCopyingEveryField() {
            makePrivate(PFN, GPA, SIZE_2M);
            assertEquals(0, rmp.pvalidate(PFN, GPA, SIZE_2M, true, ASID));
            assertEquals(0, rmp.psmash(PFN));
            for (int i = 0; i < 512; i++) {
                long lo = rmp.lo(PFN + i);
                assertTrue(RmpEntry.assigned(lo) && RmpEntry.validated(lo) && !RmpEntry.is2M(lo), "entry " + i);
                assertEquals(ASID, RmpEntry.asid(lo));
                assertEquals(GPA + i * 4096L, RmpEntry.gpa(lo));
                assertEquals(PERM_ALL, RmpEntry.perms(rmp.hi(PFN + i), 0));
            }
            assertEquals(512, rmp.assignedPages(ASID));
            assertEquals(1, rmp.privateLevel(PFN + 100));
            for (int i = 0; i < 512; i++)
                assertEquals(0, makeShared(PFN + i, SIZE_4K));
        }

        @Test
        void keepsImmutable() {
            assertEquals(0, rmp.rmpupdate(PFN, GPA, true, SIZE_2M, true, ASID));
            assertEquals(0, rmp.psmash(PFN));
            assertTrue(RmpEntry.immutable(rmp.lo(PFN + 300)));
            for (int i = 0; i < 512; i++) {
                assertTrue(rmp.firmwareReclaim(PFN + i));
                assertEquals(0, makeShared(PFN + i, SIZE_4K));
            }
        }

        @Test
        void failInputOffA2mBoundaryOrWithoutA2mEntry() {
            assertEquals(c.failInput(), rmp.psmash(PFN + 1));
            assertEquals(c.failInput(), rmp.psmash(rmp.frames()));
            assertEquals(c.failInput(), rmp.psmash(PFN), "a zero entry");
            makePrivate(PFN, GPA, SIZE_4K);
            assertEquals(c.failInput(), rmp.psmash(PFN), "a 4K entry");
            rmp.setInUse(PFN + 1, true);
            assertEquals(c.failInput(), rmp.psmash(PFN + 1), "input is checked before in-use");
            rmp.setInUse(PFN + 1, false);
            makeShared(PFN, SIZE_4K);
        }

        @Test
        void failInuseWhenAnotherCpuUsesTheEntry() throws InterruptedException {
            makePrivate(PFN, GPA, SIZE_2M);
            assertEquals(c.failInuse(), (int) whileContended(PFN, () -> rmp.psmash(PFN)));
            rmp.setInUse(PFN + 2, true);
            assertEquals(c.failInuse(), rmp.psmash(PFN));
            rmp.setInUse(PFN + 2, false);
            assertEquals(2, rmp.privateLevel(PFN));
            assertEquals(0, rmp.psmash(PFN));
            for (int i = 0; i < 512; i++)
                makeShared(PFN + i, SIZE_4K);
        }
    }

    @Nested
    class Pvalidate {
        @Test
        void setsAndClearsValidatedWithNoUpdateWhenUnchanged() {
            makePrivate(PFN, GPA, SIZE_4K);
            assertTrue(GuestResult.updated(rmp.pvalidate(PFN, GPA, SIZE_4K, true, ASID)));
            assertTrue(rmp.validatedOf(PFN));
            long again = rmp.pvalidate(PFN, GPA, SIZE_4K, true, ASID);
            assertEquals(0, GuestResult.eax(again));
            assertTrue(GuestResult.cf(again), "CF = 1: nothing changed");
            assertTrue(GuestResult.updated(rmp.pvalidate(PFN, GPA, SIZE_4K, false, ASID)));
            assertTrue(GuestResult.cf(rmp.pvalidate(PFN, GPA, SIZE_4K, false, ASID)));
            assertFalse(rmp.validatedOf(PFN));
        }

        @Test
        void validatesA2mPage() {
            makePrivate(PFN, GPA, SIZE_2M);
            assertEquals(0, rmp.pvalidate(PFN, GPA, SIZE_2M, true, ASID));
            assertTrue(rmp.validatedOf(PFN + 200));
        }

        @Test
        void failInputForABadSizeOrAlignment() {
            makePrivate(PFN, GPA, SIZE_2M);
            assertEquals(c.failInput(), GuestResult.eax(rmp.pvalidate(PFN, GPA, 2, true, ASID)));
            assertEquals(c.failInput(), GuestResult.eax(rmp.pvalidate(PFN + 1, GPA + 0x1000, SIZE_2M, true, ASID)));
            assertEquals(c.failInput(), GuestResult.eax(rmp.pvalidate(PFN, GPA | 8, SIZE_4K, true, ASID)));
            assertEquals(c.failInput(), GuestResult.eax(rmp.pvalidate(PFN, GPA | 8, SIZE_4K, true, OTHER)),
                    "input is checked before ownership");
        }

        @Test
        void npfWithTheRmpBitWhenThePageIsNotTheGuests() {
            long npf = GuestResult.npf(Pferr.GUEST_RMP | Pferr.GUEST_FINAL | Pferr.GUEST_ENC);
            assertEquals(npf, rmp.pvalidate(rmp.frames(), GPA, SIZE_4K, true, ASID), "not covered");
            assertEquals(npf, rmp.pvalidate(PFN, GPA, SIZE_4K, true, ASID), "hypervisor-owned");
            makePrivate(PFN, GPA, SIZE_4K);
            assertEquals(npf, rmp.pvalidate(PFN, GPA, SIZE_4K, true, OTHER), "another guest's");
            assertEquals(npf, rmp.pvalidate(PFN, GPA + 0x1000, SIZE_4K, true, ASID), "assigned at another GPA");
            assertEquals(0, rmp.rmpupdate(PFN + 1, GPA + 0x1000, true, SIZE_4K, true, ASID));
            assertEquals(npf, rmp.pvalidate(PFN + 1, GPA + 0x1000, SIZE_4K, true, ASID), "immutable");
            assertTrue(rmp.firmwareReclaim(PFN + 1));
            makeShared(PFN + 1, SIZE_4K);
            makeShared(PFN, SIZE_4K);
        }

        @Test
        void failSizeMismatchFor2mOn4kEntries() {
            makePrivate(PFN, GPA, SIZE_4K);
            assertEquals(c.failSizeMismatch(), GuestResult.eax(rmp.pvalidate(PFN, GPA, SIZE_2M, true, ASID)));
            assertTrue(GuestResult.isNpf(rmp.pvalidate(PFN, GPA, SIZE_2M, true, OTHER)),
                    "ownership is checked before the size");
            makeShared(PFN, SIZE_4K);
        }

        @Test
        void npfWithSizemFor4kInsideA2mEntry() {
            makePrivate(PFN, GPA, SIZE_2M);
            long r = rmp.pvalidate(PFN + 7, GPA + 0x7000, SIZE_4K, true, ASID);
            assertTrue(GuestResult.isNpf(r));
            assertEquals(Pferr.GUEST_RMP | Pferr.GUEST_SIZEM, GuestResult.npfBits(r) & (Pferr.GUEST_RMP
                    | Pferr.GUEST_SIZEM));
            assertEquals(0, rmp.psmash(PFN));
            assertEquals(0, rmp.pvalidate(PFN + 7, GPA + 0x7000, SIZE_4K, true, ASID), "after the split");
            for (int i = 0; i < 512; i++)
                makeShared(PFN + i, SIZE_4K);
        }
    }

    @Nested
    class Rmpadjust {
        long attrs(int vmpl, int perms) {
            return vmpl | (long) perms << 8;
        }

        @Test
        void grantsAHigherVmplAndSetsVmsaFromVmpl0Only() {
            makePrivate(PFN, GPA, SIZE_4K);
            rmp.pvalidate(PFN, GPA, SIZE_4K, true, ASID);
            assertEquals(0, rmp.rmpadjust(PFN, GPA, SIZE_4K, 0, attrs(1, PERM_R) | 1L << 16, ASID));
            assertEquals(PERM_R, RmpEntry.perms(rmp.hi(PFN), 1));
            assertTrue(RmpEntry.vmsa(rmp.lo(PFN)));
            assertEquals(0, rmp.rmpadjust(PFN, GPA, SIZE_4K, 1, attrs(2, PERM_R), ASID), "VMSA clear from VMPL1");
            assertTrue(RmpEntry.vmsa(rmp.lo(PFN)), "is ignored");
            assertEquals(PERM_R, RmpEntry.perms(rmp.hi(PFN), 2));
            makeShared(PFN, SIZE_4K);
        }

        @Test
        void neighboursKeepTheirOwnPermissions() { // their high qwords share a word of the region
            for (int i = 0; i < 2; i++) {
                makePrivate(PFN + i, GPA + 0x1000L * i, SIZE_4K);
                rmp.pvalidate(PFN + i, GPA + 0x1000L * i, SIZE_4K, true, ASID);
            }
            assertEquals(0, rmp.rmpadjust(PFN + 1, GPA + 0x1000, SIZE_4K, 0, attrs(3, PERM_W), ASID));
            assertEquals(0, rmp.rmpadjust(PFN, GPA, SIZE_4K, 0, attrs(3, PERM_R), ASID));
            assertEquals(PERM_R, RmpEntry.perms(rmp.hi(PFN), 3));
            assertEquals(PERM_W, RmpEntry.perms(rmp.hi(PFN + 1), 3));
            assertEquals(PERM_ALL, RmpEntry.perms(rmp.hi(PFN), 0));
            assertEquals(PERM_ALL, RmpEntry.perms(rmp.hi(PFN + 1), 0));
            assertEquals(0, rmp.rmpadjust(PFN + 1, GPA + 0x1000, SIZE_4K, 0, attrs(3, 0), ASID));
            assertEquals(PERM_R, RmpEntry.perms(rmp.hi(PFN), 3));
            assertEquals(0, RmpEntry.perms(rmp.hi(PFN + 1), 3));
            for (int i = 0; i < 2; i++)
                makeShared(PFN + i, SIZE_4K);
            assertEquals(0, rmp.hi(PFN) | rmp.hi(PFN + 1));
        }

        @Test
        void failInputForBadOperands() {
            makePrivate(PFN, GPA, SIZE_4K);
            assertEquals(c.failInput(), GuestResult.eax(rmp.rmpadjust(PFN, GPA, SIZE_4K, 0, attrs(4, 0), ASID)));
            assertEquals(c.failInput(), GuestResult.eax(rmp.rmpadjust(PFN, GPA, SIZE_4K, 0, 1L << 20, ASID)));
            assertEquals(c.failInput(), GuestResult.eax(rmp.rmpadjust(PFN, GPA, 3, 0, attrs(1, 0), ASID)));
            assertEquals(c.failInput(), GuestResult.eax(rmp.rmpadjust(PFN, GPA, SIZE_4K, 4, attrs(1, 0), ASID)));
            assertEquals(c.failInput(), GuestResult.eax(rmp.rmpadjust(PFN, GPA, SIZE_4K, 0, attrs(4, 0), OTHER)),
                    "input is checked before ownership");
            makeShared(PFN, SIZE_4K);
        }

        @Test
        void npfAndSizeChecksLikePvalidate() {
            assertTrue(GuestResult.isNpf(rmp.rmpadjust(PFN, GPA, SIZE_4K, 0, attrs(1, PERM_R), ASID)));
            makePrivate(PFN, GPA, SIZE_4K);
            assertEquals(c.failSizeMismatch(), GuestResult.eax(rmp.rmpadjust(PFN, GPA, SIZE_2M, 0, attrs(0, 0),
                    ASID)), "size before permission (target 0 would be refused)");
            makeShared(PFN, SIZE_4K);
            makePrivate(PFN, GPA, SIZE_2M);
            long r = rmp.rmpadjust(PFN + 1, GPA + 0x1000, SIZE_4K, 0, attrs(1, PERM_R), ASID);
            assertTrue((GuestResult.npfBits(r) & Pferr.GUEST_SIZEM) != 0);
            makeShared(PFN, SIZE_2M);
        }

        @Test
        void failPermission() {
            makePrivate(PFN, GPA, SIZE_4K);
            assertEquals(c.failPermission(), GuestResult.eax(rmp.rmpadjust(PFN, GPA, SIZE_4K, 0, attrs(1, PERM_R),
                    ASID)), "not validated");
            rmp.pvalidate(PFN, GPA, SIZE_4K, true, ASID);
            assertEquals(c.failPermission(), GuestResult.eax(rmp.rmpadjust(PFN, GPA, SIZE_4K, 1, attrs(1, 0),
                    ASID)), "target VMPL not above the caller's");
            assertEquals(0, rmp.rmpadjust(PFN, GPA, SIZE_4K, 0, attrs(1, PERM_R), ASID));
            assertEquals(c.failPermission(), GuestResult.eax(rmp.rmpadjust(PFN, GPA, SIZE_4K, 1,
                    attrs(2, PERM_R | PERM_W), ASID)), "VMPL1 cannot grant W it lacks");
            makeShared(PFN, SIZE_4K);
        }
    }

    @Nested
    class AccessChecks {
        long check(long pfn, long gpa, int level, int asid, boolean write) {
            return rmp.accessCheck(pfn, gpa, level, asid, true, write, false, 0);
        }

        @Test
        void privateAccessesInPriorityOrder() {
            long npf = Pferr.GUEST_RMP | Pferr.GUEST_FINAL | Pferr.GUEST_ENC;
            assertEquals(npf, check(rmp.frames(), GPA, 1, ASID, false), "RMP-covered");
            assertEquals(npf, check(PFN, GPA, 1, ASID, false), "guest-owned");
            makePrivate(PFN, GPA, SIZE_4K);
            assertEquals(npf, check(PFN, GPA, 1, OTHER, false), "guest-owned (ASID)");
            assertEquals(npf, check(PFN, GPA + 0x1000, 1, ASID, false), "reverse map");
            assertEquals(npf, check(PFN, GPA, 2, ASID, false), "page size: 2M leaf on a 4K page");
            assertEquals(Rmp.ACCESS_VC, check(PFN, GPA, 1, ASID, false), "validated");
            rmp.pvalidate(PFN, GPA, SIZE_4K, true, ASID);
            assertEquals(Rmp.ACCESS_OK, check(PFN, GPA, 1, ASID, true));
            makeShared(PFN, SIZE_4K);

            assertEquals(0, rmp.rmpupdate(PFN, GPA, true, SIZE_4K, true, ASID));
            assertEquals(npf, check(PFN, GPA, 1, ASID, false), "mutable");
            rmp.firmwareReclaim(PFN);
            makeShared(PFN, SIZE_4K);

            makePrivate(PFN, GPA, SIZE_2M);
            assertEquals(npf, check(PFN + 3, GPA + 0x3000, 1, ASID, false), "page size: 4K leaf on a 2M page");
            assertEquals(Rmp.ACCESS_VC, check(PFN + 3, GPA + 0x3000, 2, ASID, false));
            makeShared(PFN, SIZE_2M);
        }

        @Test
        void vmplPermissions() {
            makePrivate(PFN, GPA, SIZE_4K);
            rmp.pvalidate(PFN, GPA, SIZE_4K, true, ASID);
            rmp.rmpadjust(PFN, GPA, SIZE_4K, 0, 1 | (long) PERM_R << 8, ASID);
            assertEquals(Rmp.ACCESS_OK, rmp.accessCheck(PFN, GPA, 1, ASID, true, false, false, 1));
            long r = rmp.accessCheck(PFN, GPA, 1, ASID, true, true, false, 1);
            assertEquals(Pferr.GUEST_VMPL, r & (Pferr.GUEST_VMPL | Pferr.GUEST_RMP));
            assertTrue(rmp.accessCheck(PFN, GPA, 1, ASID, true, false, true, 1) > 0, "no execute");
            makeShared(PFN, SIZE_4K);
        }

        @Test
        void sharedAccessesCheckOnlyWrites() {
            makePrivate(PFN, GPA, SIZE_4K);
            assertEquals(Rmp.ACCESS_OK, rmp.accessCheck(PFN, GPA, 1, ASID, false, false, false, 0));
            assertEquals(Pferr.GUEST_RMP | Pferr.GUEST_FINAL, rmp.accessCheck(PFN, GPA, 1, ASID, false, true, false,
                    0));
            assertEquals(Rmp.ACCESS_OK, rmp.accessCheck(PFN + 1, GPA, 1, ASID, false, true, false, 0));
            makeShared(PFN, SIZE_4K);
        }

        @Test
        void hostWrites() {
            makePrivate(PFN + 9, GPA, SIZE_4K);
            assertTrue(rmp.hostWriteFaults(PFN + 9, 1));
            assertFalse(rmp.hostWriteFaults(PFN + 8, 1));
            assertTrue(rmp.hostWriteFaults(PFN + 8, 2), "a 2M host mapping over an assigned 4K page");
            assertTrue(rmp.hostWriteFaults(PFN + 8, 3), "1G is treated as 2M");
            assertFalse(rmp.hostWriteFaults(PFN + 512, 2));
            assertFalse(rmp.hostWriteFaults(rmp.frames() + 5, 1), "memory beyond the RMP is the hypervisor's");
            makeShared(PFN + 9, SIZE_4K);
            makePrivate(PFN, GPA, SIZE_2M);
            assertTrue(rmp.hostWriteFaults(PFN + 300, 1));
            makeShared(PFN, SIZE_2M);
        }
    }

    @Nested
    class Firmware {
        @Test
        void launchUpdateTurnsAPreGuestPageGuestValid() {
            assertEquals(0, rmp.rmpupdate(PFN, GPA, true, SIZE_4K, true, ASID));
            assertFalse(rmp.firmwareLaunchUpdate(PFN, OTHER, false), "another guest's context");
            assertTrue(rmp.firmwareLaunchUpdate(PFN, ASID, false));
            long lo = rmp.lo(PFN);
            assertTrue(RmpEntry.validated(lo) && !RmpEntry.immutable(lo) && !RmpEntry.vmsa(lo));
            assertFalse(rmp.firmwareLaunchUpdate(PFN, ASID, false), "not pre-guest any more");
            assertEquals(0, makeShared(PFN, SIZE_4K), "no reclaim needed");
            assertEquals(0, rmp.rmpupdate(PFN, 0xFFFFFFFFF000L, true, SIZE_4K, true, ASID));
            assertTrue(rmp.firmwareLaunchUpdate(PFN, ASID, true));
            assertTrue(RmpEntry.vmsa(rmp.lo(PFN)));
            assertEquals(0, makeShared(PFN, SIZE_4K));
        }

        @Test
        void reclaimMakesAnImmutablePageConvertible() {
            assertEquals(0, rmp.rmpupdate(PFN, 0, true, SIZE_4K, true, 0));
            assertEquals(1, rmp.assignedPages(0));
            assertEquals(c.failPermission(), makeShared(PFN, SIZE_4K));
            assertTrue(rmp.firmwareReclaim(PFN));
            assertFalse(rmp.firmwareReclaim(PFN), "only immutable pages");
            assertEquals(0, makeShared(PFN, SIZE_4K));
            assertEquals(0, rmp.assignedPages(0));
        }
    }

    @Test
    void storageFollowsWhatIsAssigned() {
        assertEquals(0, rmp.liveRegions());
        makePrivate(PFN, GPA, SIZE_2M);
        makePrivate(PFN + 512 + 3, GPA + M2 + 0x3000, SIZE_4K);
        assertEquals(2, rmp.liveRegions());
        makeShared(PFN, SIZE_2M);
        assertEquals(2, rmp.liveRegions(), "the 2M hypervisor entry keeps its page size");
        assertEquals(0, rmp.psmash(PFN));
        makeShared(PFN + 512 + 3, SIZE_4K);
        assertEquals(0, rmp.liveRegions());
        assertEquals(0, rmp.assignedPages());
    }

    @Test
    void highQwordsOfTheirOwnGoThroughExportAndRestore() {
        makePrivate(PFN, GPA, SIZE_4K);
        rmp.pvalidate(PFN, GPA, SIZE_4K, true, ASID);
        assertEquals(0, rmp.rmpadjust(PFN, GPA, SIZE_4K, 0, 2 | (long) PERM_R << 8, ASID));
        long[] saved = rmp.export(ASID);
        Rmp other = new Rmp((RegionTable.CHUNK + 1L) * 512, RmpCodes.DEFAULT);
        other.restore(saved);
        assertEquals(rmp.lo(PFN), other.lo(PFN));
        assertEquals(rmp.hi(PFN), other.hi(PFN));
        assertEquals(PERM_R, RmpEntry.perms(other.hi(PFN), 2));
        assertEquals(PERM_ALL, RmpEntry.perms(other.hi(PFN), 0));
        assertTrue(other.check().isEmpty(), other.check().toString());
        makeShared(PFN, SIZE_4K);
    }

    @Test
    void restoreRefusesAnEntryThatSetsReservedBits() {
        long lo = RmpEntry.lo(GPA, true, SIZE_4K, false, ASID) | 1L << 3;
        assertThrows(IllegalArgumentException.class, () -> rmp.restore(new long[] { PFN, lo, 0, 1 }));
        assertEquals(0, rmp.lo(PFN));
        assertEquals(0, rmp.assignedPages());
    }

    /**
     * Who last wrote an entry is kept in its word's reserved bits 7:5 (a byte array of its own before): read back
     * exactly, never in the low qword read, cleared with its region's slice; a restored low qword may not set them.
     */
    @Test
    void whoWroteAnEntryIsInItsWordAndNeverInItsLowQword() {
        makePrivate(PFN, GPA, SIZE_4K);
        RmpRegion r = rmp.regions.get((int) (PFN >>> 9));
        assertEquals(Rmp.BY_RMPUPDATE, r.writer(0));
        assertEquals(RmpEntry.lo(GPA, true, SIZE_4K, false, ASID), rmp.lo(PFN));
        assertEquals(0, GuestResult.eax(rmp.pvalidate(PFN, GPA, SIZE_4K, true, ASID)));
        assertEquals(Rmp.BY_PVALIDATE, r.writer(0));
        assertEquals(RmpEntry.lo(GPA, true, SIZE_4K, false, ASID) | RmpEntry.VALIDATED, rmp.lo(PFN));
        assertEquals(0, r.writer(1), "never written");
        long[] saved = rmp.export(ASID);
        assertEquals(Rmp.BY_PVALIDATE, saved[3]);
        assertEquals(0, GuestResult.eax(rmp.pvalidate(PFN, GPA, SIZE_4K, false, ASID)));
        assertEquals(0, makeShared(PFN, SIZE_4K));
        assertEquals(0, rmp.liveRegions());
        assertEquals(0, makePrivate(PFN + 1, GPA + 0x1000, SIZE_4K));
        assertEquals(0, rmp.regions.get((int) (PFN >>> 9)).writer(0), "the slice came back cleared");
        assertEquals(0, makeShared(PFN + 1, SIZE_4K));
        long lo = RmpEntry.lo(GPA, true, SIZE_4K, false, ASID) | 1L << 5;
        assertThrows(IllegalArgumentException.class, () -> rmp.restore(new long[] { PFN, lo, 0, 1 }));
        assertThrows(IllegalArgumentException.class, () -> rmp.restore(new long[] { PFN, lo & ~(1L << 5), 0, 8 }));
        assertEquals(0, rmp.assignedPages());
        rmp.restore(saved);
        assertEquals(Rmp.BY_PVALIDATE, rmp.regions.get((int) (PFN >>> 9)).writer(0));
        assertTrue(rmp.validatedOf(PFN));
        assertEquals(0, GuestResult.eax(rmp.pvalidate(PFN, GPA, SIZE_4K, false, ASID)));
        assertEquals(0, makeShared(PFN, SIZE_4K));
    }

    @Test
    void regionsComeBackToTheirSliceOfAChunkKeptForGood() {
        long last = (long) RegionTable.CHUNK * 512; // the first frame of the second (and last: 1 region) chunk
        assertEquals(0, rmp.regions.chunks());
        assertEquals(0, makePrivate(PFN, GPA, SIZE_4K));
        assertEquals(0, GuestResult.eax(rmp.pvalidate(PFN, GPA, SIZE_4K, true, ASID)));
        assertEquals(0, makePrivate(last + 7, GPA + 0x7000, SIZE_4K));
        assertEquals(2, rmp.regions.chunks());
        assertEquals(2, rmp.liveRegions());
        assertEquals(0, GuestResult.eax(rmp.pvalidate(PFN, GPA, SIZE_4K, false, ASID)));
        assertEquals(0, makeShared(PFN, SIZE_4K));
        assertEquals(0, makeShared(last + 7, SIZE_4K));
        assertEquals(0, rmp.liveRegions());
        assertEquals(2, rmp.regions.chunks(), "chunks stay for the regions' return");
        assertEquals(0, rmp.lo(PFN));
        assertEquals(0, makePrivate(PFN + 1, GPA + 0x1000, SIZE_4K));
        assertTrue(rmp.isAssigned(PFN + 1));
        assertFalse(rmp.isAssigned(PFN));
        assertEquals(ASID, rmp.asidOf(PFN + 1));
        assertEquals(List.of(), rmp.check());
        assertEquals(0, makeShared(PFN + 1, SIZE_4K));
        assertEquals(0, rmp.liveRegions());
    }

    @Test
    void returnCodesAreConfigurable() {
        Rmp other = new Rmp(1L << 18, new RmpCodes(11, 12, 13, 14, 16));
        assertEquals(11, other.rmpupdate(PFN + 1, 0, true, SIZE_2M, false, ASID));
        other.rmpupdate(PFN, GPA, true, SIZE_4K, false, ASID);
        assertEquals(16, GuestResult.eax(other.pvalidate(PFN, GPA, SIZE_2M, true, ASID)));
        assertEquals("FAIL_SIZEMISMATCH", other.codes().name(16));
        other.rmpupdate(PFN, 0, false, SIZE_4K, false, 0);
    }

    @Test
    void aChangeOutsideTheInstructionsIsCaught() throws Exception {
        makePrivate(PFN, GPA, SIZE_4K);
        rmp.pvalidate(PFN, GPA, SIZE_4K, true, ASID);
        Object region = rmp.regions.get((int) (PFN >>> 9));
        Field w = region.getClass().getDeclaredField("words");
        w.setAccessible(true);
        long[] words = (long[]) w.get(region);
        Field baseField = region.getClass().getDeclaredField("base");
        baseField.setAccessible(true);
        int base = (int) baseField.get(region); // the region's slice of its chunk
        long saved = words[base];
        words[base] = saved | RmpEntry.VMSA; // a stray store into the table
        List<String> broken = rmp.check();
        assertTrue(broken.stream().anyMatch(s -> s.contains("R8")), broken.toString());
        words[base + 2] = RmpEntry.VALIDATED; // an unassigned entry with guest state
        broken = rmp.check();
        assertTrue(broken.stream().anyMatch(s -> s.contains("R1")), broken.toString());
        words[base + 2] = 0;
        words[base] = saved;
        makeShared(PFN, SIZE_4K);
    }

    @Test
    void concurrentUpdatesOfOneRegionFailWithOverlapAndSucceedOnRetry() throws Exception {
        int threads = 8;
        List<Thread> all = new ArrayList<>();
        long[] overlaps = new long[threads];
        List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int t = 0; t < threads; t++) {
            int id = t;
            all.add(new Thread(() -> {
              try {
                for (int round = 0; round < 200; round++) {
                    for (int i = id; i < 512; i += threads) {
                        int rc;
                        while ((rc = makePrivate(PFN + i, GPA + i * 4096L, SIZE_4K)) == c.failOverlap())
                            overlaps[id]++;
                        assertEquals(0, rc);
                        rmp.pvalidate(PFN + i, GPA + i * 4096L, SIZE_4K, true, ASID);
                        while ((rc = makeShared(PFN + i, SIZE_4K)) == c.failOverlap())
                            overlaps[id]++;
                        assertEquals(0, rc);
                    }
                }
              } catch (Throwable e) {
                failures.add(e);
              }
            }));
        }
        all.forEach(Thread::start);
        for (Thread t : all)
            t.join();
        assertEquals(List.of(), failures);
        assertEquals(0, rmp.assignedPages());
        assertEquals(0, rmp.liveRegions());
    }

    @Test
    void neighbouringRegionsHaveLockStripesFarApart() {
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (long region = 0; region < 64; region++) {
            int here = Rmp.stripeOf(region << 9), next = Rmp.stripeOf((region + 1) << 9);
            assertTrue(Math.abs(here - next) >= 8, "regions " + region + " and " + (region + 1) + ": stripes " + here
                    + " and " + next + " lie within a cache line's reach of locks and digest words");
            assertEquals(here, Rmp.stripeOf((region << 9) + 511), "one stripe for the whole 2M region");
            seen.add(here);
        }
        assertEquals(64, seen.size(), "64 regions, 64 stripes");
    }
}
