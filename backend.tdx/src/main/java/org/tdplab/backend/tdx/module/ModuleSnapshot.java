package org.tdplab.backend.tdx.module;

/**
 * A {@link TdxModule}'s state to and from {@link ModuleState}, field by field, for a bundle swap: the TD's TDR and
 * TDCS, each vCPU's TDVPS, the S-EPT pages and the PAMT. The leaf groups hold no state and are rebuilt.
 */
final class ModuleSnapshot {
    private ModuleSnapshot() {
    }

    static ModuleState write(TdxModule m) {
        int[] refcount = { (int) m.lines.refcount(0), (int) m.lines.refcount(1) };
        ModuleState.Td td = new ModuleState.Td(m.tdrPfn, m.hkid, m.lifecycle, m.fatal, m.chldcnt.sum(),
                m.tdcsPfns.clone(), m.tdcsAdded, m.opState, m.eptLevels, m.sharedBit, m.attributes, m.tdEpoch, refcount,
                m.mrtd, m.rootPage, m.maxEpochChecked, m.lines.total(false), m.lines.total(true));
        VcpuLifecycle c = m.vcpus;
        ModuleState.Vcpus vcpus = new ModuleState.Vcpus(c.count, c.tdvprPfn.clone(), c.tdcxAdded.clone(),
                c.initialized.clone(), c.flushed.clone(), m.lines.inGuestArray(),
                m.lines.array(VcpuLines.EPOCH), m.lines.array(VcpuLines.ENTER_SEQ),
                m.lines.array(VcpuLines.ACCEPTED_HPA), m.lines.array(VcpuLines.EXT_EXIT_QUAL));
        return new ModuleState(m.version.label(), m.tdmrLimitPfn, td, vcpus, m.sept.export(), m.pamt.export());
    }

    /** @throws IllegalArgumentException naming what does not fit this module (a version, an array's length) */
    static TdxModule read(ModuleState s, PageContents frames, Contention contention) {
        TdxAbi.Version version = null;
        for (TdxAbi.Version v : TdxAbi.Version.values())
            if (v.label().equals(s.version()))
                version = v;
        if (version == null)
            throw new IllegalArgumentException("TDX module version " + s.version() + " is not 1.0 or 1.5");
        ModuleState.Vcpus v = s.vcpus();
        int maxVcpus = v.tdvprPfn().length;
        TdxModule m = new TdxModule(version, maxVcpus, frames, contention, s.tdmrLimitPfn(), s.pamt().dynamic());
        ModuleState.Td td = s.td();
        m.tdrPfn = td.tdrPfn();
        m.hkid = td.hkid();
        m.lifecycle = td.lifecycle();
        m.fatal = td.fatal();
        m.chldcnt.set(td.chldcnt());
        copy("td.tdcsPfns", td.tdcsPfns(), m.tdcsPfns);
        m.tdcsAdded = td.tdcsAdded();
        m.opState = td.opState();
        m.eptLevels = td.eptLevels();
        m.sharedBit = td.sharedBit();
        m.attributes = td.attributes();
        m.tdEpoch = td.tdEpoch();
        int[] refcount = new int[2];
        copy("td.refcount", td.refcount(), refcount);
        for (int p = 0; p < 2; p++)
            m.lines.restoreRefcount(p, refcount[p]);
        m.mrtd = td.mrtd();
        m.rootPage = td.rootPage();
        m.maxEpochChecked = td.maxEpochChecked();
        m.vcpus.count = v.numVcpus();
        copy("vcpus.tdvprPfn", v.tdvprPfn(), m.vcpus.tdvprPfn);
        copy("vcpus.tdcxAdded", v.tdcxAdded(), m.vcpus.tdcxAdded);
        copy("vcpus.initialized", v.initialized(), m.vcpus.initialized);
        copy("vcpus.flushed", v.flushed(), m.vcpus.flushed);
        m.lines.restoreInGuest(v.inGuest());
        m.lines.restore("vcpus.epoch", VcpuLines.EPOCH, v.epoch());
        m.lines.restore("vcpus.enterSeq", VcpuLines.ENTER_SEQ, v.enterSeq());
        m.lines.restore("vcpus.acceptedHpa", VcpuLines.ACCEPTED_HPA, v.acceptedHpa());
        m.lines.restore("vcpus.extExitQual", VcpuLines.EXT_EXIT_QUAL, v.extExitQual());
        m.lines.restoreTotals(td.vpEnters(), td.eptFlushes());
        m.sept.restore(s.sept());
        m.pamt.restore(s.pamt());
        return m;
    }

    /** A saved array of {@code n} elements where this module has {@code want}. */
    static IllegalArgumentException doesNotFit(String field, int n, int want) {
        return new IllegalArgumentException("TDX module state " + field + " has " + n + " elements where this "
                + "module has " + want);
    }

    /** Copies a saved array into the module's own, of the length this module gives it. */
    private static void copy(String field, Object from, Object to) {
        int n = java.lang.reflect.Array.getLength(from), want = java.lang.reflect.Array.getLength(to);
        if (n != want)
            throw doesNotFit(field, n, want);
        System.arraycopy(from, 0, to, 0, n);
    }
}
