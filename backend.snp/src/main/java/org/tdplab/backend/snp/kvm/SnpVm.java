package org.tdplab.backend.snp.kvm;

import java.util.List;
import java.util.Map;

import org.tdplab.backend.snp.rmp.Pferr;
import org.tdplab.backend.snp.rmp.Rmp;
import org.tdplab.mmu.api.Access;
import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.Exit;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.Remaining;
import org.tdplab.mmu.api.backend.HookStatus;
import org.tdplab.mmu.api.backend.MmuView;
import org.tdplab.mmu.api.backend.SnapshotCodec;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VerbResult;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.api.backend.Walk;

/**
 * KVM's side of one SNP VM ({@code arch/x86/kvm/svm/sev.c}) over the host's simulated RMP: its ASID, the launch
 * flow, the guest_memfd hooks, the RMP checks of the nested walk and the RMP #NPF handling, the host-write check,
 * and what the Linux guest does with PVALIDATE.
 */
public final class SnpVm implements VmBackend {
    /** The guest runs at VMPL0 (no SVSM below it). */
    private static final int GUEST_VMPL = 0;

    private final VmContext ctx;
    private final SnpHost host;
    private final Rmp rmp;
    private final int asid;
    private final SnpOptions options;
    private final Anomalies anomalies = new Anomalies();
    private final RmpCalls calls;
    private final GmemHooks gmem;
    private final Launch launch;
    private final LinuxGuest guest;
    private final Invariants checks;
    private volatile boolean tornDown;
    final RmpFaults rmpFaults;

    /** {@code KVM_SEV_INIT2} (an ASID) and {@code KVM_SEV_SNP_LAUNCH_START} for a new VM. */
    public SnpVm(VmContext ctx, SnpHost host, SnpOptions options) {
        this.ctx = ctx;
        this.host = host;
        this.rmp = host.rmp();
        this.options = options;
        this.asid = host.asids().allocate();
        try {
            this.calls = new RmpCalls(ctx, rmp, asid, anomalies);
            this.gmem = new GmemHooks(calls);
            this.launch = new Launch(ctx, calls, gmem, host);
            this.rmpFaults = new RmpFaults(ctx, rmp, calls, gmem, anomalies);
            this.guest = new LinuxGuest(ctx, calls, rmpFaults, anomalies);
            this.checks = new Invariants(rmp, asid, launch, host, anomalies);
        } catch (RuntimeException e) {
            host.asids().free(asid);
            throw e;
        }
    }

    private SnpVm(VmContext ctx, SnpHost host, SnpOptions options, SnpSnapshot s) {
        this.ctx = ctx;
        this.host = host;
        this.rmp = host.rmp();
        this.options = options;
        if (s.launch().vmsa().length != ctx.vcpus() || s.launch().vmsaPrivate().length != ctx.vcpus()
                || s.guest().fallbackGfn().length != ctx.vcpus() || s.guest().fallbackNext().length != ctx.vcpus())
            throw new MmuException(Errno.EINVAL, "SNP snapshot has %d vCPUs where VM '%s' has %d",
                    s.launch().vmsa().length, ctx.name(), ctx.vcpus());
        if (s.rmp().length % 4 != 0 || s.unprepared().length % 3 != 0)
            throw new MmuException(Errno.EINVAL, "SNP snapshot: %d RMP words are not quadruples or %d unprepared "
                    + "words not triples", s.rmp().length, s.unprepared().length);
        this.asid = s.asid();
        host.asids().reserve(asid);
        this.calls = new RmpCalls(ctx, rmp, asid, anomalies);
        this.gmem = new GmemHooks(calls);
        gmem.restoreUnprepared(s.unprepared());
        this.launch = new Launch(ctx, calls, gmem, host, s.launch().state(), s.launch().contextPfn(),
                s.launch().respPfn(), s.launch().vmsa(), s.launch().vmsaPrivate());
        this.rmpFaults = new RmpFaults(ctx, rmp, calls, gmem, anomalies);
        this.guest = new LinuxGuest(ctx, calls, rmpFaults, anomalies);
        guest.restoreFallback(s.guest().fallbackGfn(), s.guest().fallbackNext());
        this.checks = new Invariants(rmp, asid, launch, host, anomalies);
        anomalies.restore(s.warnings().kept(), s.warnings().dropped());
        this.tornDown = s.tornDown();
        rmp.restore(s.rmp());
    }

    /**
     * A VM taken over from the {@link #snapshot()} of a previous SNP backend of this host.
     *
     * @throws MmuException EINVAL naming what differs in a snapshot of another format or version (3 is upgraded)
     */
    public static SnpVm restore(VmContext ctx, SnpHost host, SnpOptions options, Map<String, Object> snapshot) {
        return new SnpVm(ctx, host, options, SnapshotCodec.decode(snapshot, SnpSnapshot.VERSION, SnpSnapshot.class,
                SnpSnapshot.UPGRADES));
    }

    /**
     * KVM's SNP state of this VM (ASID, launch state, firmware and VMSA pages, pending unprepared folios, the guest's
     * fallback cursors, anomalies) and the RMP entries it owns (every entry assigned to its ASID, and its firmware
     * pages), as the typed {@link SnpSnapshot} encoded by the API's one codec.
     */
    @Override
    public Map<String, Object> snapshot() {
        long[] extra = launch.vmsaPages();
        long[] all = java.util.Arrays.copyOf(extra, extra.length + 2);
        all[extra.length] = launch.contextPfn();
        all[extra.length + 1] = launch.respPfn();
        return SnapshotCodec.encode(SnpSnapshot.VERSION, new SnpSnapshot(asid,
                gmem.unprepared(),
                new SnpSnapshot.LaunchState(launch.state(), launch.contextPfn(), launch.respPfn(),
                        launch.vmsaPages(), launch.vmsaPrivate()),
                new SnpSnapshot.Guest(guest.fallbackGfn(), guest.fallbackNext()),
                new SnpSnapshot.Warnings(List.copyOf(anomalies.kept()), anomalies.dropped()), tornDown,
                rmp.export(asid, all)));
    }

    public int asid() {
        return asid;
    }

    public long policy() {
        return options.policy();
    }

    // ---- guest_memfd -----------------------------------------------------------------------------------------

    @Override
    public void gmemPrepare(long pfn, long gfn, int order) {
        gmem.prepare(pfn, gfn, order);
    }

    @Override
    public void gmemInvalidate(long pfn, int order) {
        gmem.invalidate(pfn, order, anomalies);
    }

    @Override
    public int privateMaxLevel(long gfn, long pfn) {
        return gmem.maxLevel(pfn);
    }

    // ---- hardware --------------------------------------------------------------------------------------------

    /** The VMM communication exception's vector (#VC), named by {@code Backend.exceptions()}. */
    public static final int VC_VECTOR = 29;

    /** The RMP checks after the nested walk; allocation-free. */
    @Override
    public long checkAccess(int vcpu, long gfn, long pfn, int level, boolean isPrivate, Access access) {
        boolean write = access == Access.WRITE, exec = access == Access.EXEC;
        long r = rmp.accessCheck(pfn, gfn << 12, level, asid, isPrivate, write, exec, GUEST_VMPL);
        if (r == Rmp.ACCESS_OK)
            return Walk.translated(pfn, level);
        if (r == Rmp.ACCESS_VC)
            return Walk.exception(VC_VECTOR); // #VC PAGE_NOT_VALIDATED (0x404)
        if ((r & Pferr.GUEST_RMP) != 0)
            rmpFaults.exited(vcpu); // sampled in guest mode: a memslot change waits for the vCPU to leave it
        return Walk.violation(r | Pferr.access(write, exec));
    }

    /** {@code npf_interception}: after KVM's fault handler, an RMP fault goes to {@code sev_handle_rmp_fault}. */
    @Override
    public void violationHandled(int vcpu, long gfn, long errorBits) {
        if ((errorBits & Pferr.GUEST_RMP) != 0)
            rmpFaults.handleExited(vcpu, gfn, errorBits);
    }

    @Override
    public HookStatus preSetMemoryAttributes(long gfn, long npages, boolean toPrivate) {
        rmpFaults.attributesChange();
        return HookStatus.OK;
    }

    @Override
    public void postSetMemoryAttributes(long gfn, long npages, boolean toPrivate) {
        rmpFaults.attributesChange();
    }

    /** {@code sev_handle_rmp_fault} for an RMP fault that exits now. */
    void handleRmpFault(long gfn, long errorBits) {
        rmpFaults.handle(gfn, errorBits, rmpFaults.seq(), rmpFaults.slots());
    }

    /**
     * A host write to a guest-assigned frame raises #PF with the RMP bit. The kernel's direct map is split to 4K
     * around private pages when they are made private ({@code adjust_direct_map}), so only the frame itself counts.
     */
    @Override
    public void hostAccess(long pfn, boolean write) {
        if (write && rmp.hostWriteFaults(pfn, 1))
            throw new MmuException(Errno.EFAULT, "host write to pfn 0x%x: #PF with the RMP bit (error code bit 31): "
                    + "the frame is assigned to %s", pfn, owner(rmp, pfn));
    }

    /** Who frame {@code pfn} is assigned to, in words. */
    static String owner(Rmp rmp, long pfn) {
        int a = rmp.asidOf(pfn);
        return a == 0 ? "the AMD-SP" : String.format("ASID %d at gpa 0x%x", a, rmp.gpaOf(pfn));
    }

    // ---- guest protocols -------------------------------------------------------------------------------------

    /** {@code SVM_EXIT_ERR} (uapi {@code asm/svm.h}: -1): the exit code of a VMRUN that failed its checks. */
    public static final long SVM_EXIT_ERR = -1;

    /**
     * Before launch finish a vCPU's VMSA is the hypervisor's page: {@code pre_sev_run} passes (valid
     * {@code vmsa_pa}), VMRUN fails its VMSA page check ({@code VMEXIT_INVALID}) and {@code svm_handle_exit} reports
     * {@code KVM_EXIT_FAIL_ENTRY} with {@code SVM_EXIT_ERR}; KVM_RUN returns 0, nothing dies (Linux 6.11 to 7.x).
     */
    @Override
    public Exit failEntry(int vcpu) {
        if (launch.vmsaRunnable(vcpu))
            return null;
        return Exit.failEntry(SVM_EXIT_ERR, "VMRUN failed (VMEXIT_INVALID): vCPU " + vcpu + "'s VMSA is no guest VMSA"
                + " page: VM '" + ctx.name() + "' is not launched (snp.launch_finish first)");
    }

    @Override
    public long accept(int vcpu, long gfn, int level) {
        return guest.accept(vcpu, gfn, level);
    }

    @Override
    public void convertBefore(int vcpu, long gfn, long npages, boolean toPrivate) {
        // shared → private: the page-state change comes first, the core then validates what became private
        if (!toPrivate)
            guest.rescind(vcpu, gfn, npages);
    }

    // ---- lifecycle -------------------------------------------------------------------------------------------

    /** SNP has no key to release before the tables go: the ASID is unbound at decommission, in {@link #teardown}. */
    @Override
    public void releaseKey() {
    }

    /**
     * {@code sev_free_vcpu} and {@code sev_vm_destroy}: VMSAs back to the hypervisor, SNP_DECOMMISSION, the ASID
     * freed. guest_memfd has freed (and so invalidated) every private page by now, so nothing of this ASID may be
     * assigned any more; what is, is leaked.
     */
    @Override
    public void teardown() {
        if (tornDown)
            return;
        tornDown = true;
        launch.teardown();
        long left = rmp.assignedPages(asid);
        if (left != 0)
            host.leak(String.format("VM '%s' (ASID %d): %d frames stayed guest-assigned after teardown, e.g. %s",
                    ctx.name(), asid, left, hex(rmp.assignedFrames(asid, 4))));
        host.asids().free(asid);
    }

    private static String hex(List<Long> pfns) {
        StringBuilder b = new StringBuilder();
        for (long p : pfns)
            b.append(b.length() == 0 ? "" : ", ").append("0x").append(Long.toHexString(p));
        return b.toString();
    }

    // ---- verbs -----------------------------------------------------------------------------------------------

    @Override
    public VerbResult invoke(String verb, VerbArgs args) {
        switch (verb) {
        case "launch_update" -> {
            args.checkedAgainst(Verbs.LAUNCH_UPDATE);
            if (args.flags().size() > 1)
                throw new MmuException(Errno.EINVAL, "snp.launch_update: one page type at most, not %s", args.flags());
            Remaining r = launch.update(args.number("gpa"), args.number("size"), args.flag("zero"));
            return VerbResult.handedBack(r.gpa(), r.size());
        }
        case "launch_finish" -> {
            args.checkedAgainst(Verbs.LAUNCH_FINISH);
            launch.finish();
        }
        case "host_write" -> {
            args.checkedAgainst(Verbs.HOST_WRITE);
            long gpa = args.number("gpa");
            hostWrite(gpa, args.number("value", gpa));
        }
        default -> throw new MmuException(Errno.ENOTSUP, "VM type snp has no verb '%s' (it has launch_update, "
                + "launch_finish, host_write)", verb);
        }
        return VerbResult.NONE;
    }

    /**
     * {@code snp.host_write}: the host kernel writes {@code value} to the guest_memfd page behind a private GPA,
     * through its direct map, as a buggy or malicious host would. The RMP refuses it with a host #PF while the page
     * is guest-assigned.
     */
    private void hostWrite(long gpa, long value) {
        if ((gpa & 0xfff) != 0)
            throw new MmuException(Errno.EINVAL, "snp.host_write: gpa=0x%x is not 4K-aligned", gpa);
        long gfn = gpa >>> 12;
        if (!ctx.isPrivate(gfn))
            throw new MmuException(Errno.EINVAL, "snp.host_write: gpa=0x%x is shared; the host writes shared pages "
                    + "freely", gpa);
        long pfn = ctx.gmemPfn(gfn);
        if (pfn < 0)
            throw new MmuException(Errno.EINVAL, "snp.host_write: no guest_memfd page backs gpa=0x%x", gpa);
        hostAccess(pfn, true);
        ctx.writeToken(pfn, value);
        ctx.guestDataChanged(gfn, true, value);
    }

    // ---- invariants (the RMP instructions are counted by the core: they are recorded as firmware calls) ------

    /** The RMP's own invariants, then the VM's ({@link Invariants}). */
    @Override
    public List<String> check(MmuView view) {
        return checks.check(view, tornDown);
    }

    /** The guest_memfd hooks (tests hold their invalidation lock to see who waits for it). */
    GmemHooks gmem() {
        return gmem;
    }
}
