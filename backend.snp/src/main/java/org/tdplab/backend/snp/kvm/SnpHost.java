package org.tdplab.backend.snp.kvm;

import java.util.ArrayList;
import java.util.List;

import org.tdplab.backend.snp.rmp.Rmp;

/**
 * What an AMD host has once for all its SNP VMs: the RMP, the ASIDs, and the frames KVM had to leak because it
 * could not return them to the hypervisor ({@code snp_leak_pages}).
 */
public final class SnpHost {
    private final Rmp rmp;
    private final AsidPool asids;
    private final List<String> leaks = new ArrayList<>();

    public SnpHost(Rmp rmp, AsidPool asids) {
        this.rmp = rmp;
        this.asids = asids;
    }

    public Rmp rmp() {
        return rmp;
    }

    public AsidPool asids() {
        return asids;
    }

    synchronized void leak(String what) {
        leaks.add(what);
    }

    /** Frames withheld from the host because they stayed guest-assigned, one line each. */
    public synchronized List<String> leaks() {
        return List.copyOf(leaks);
    }
}
