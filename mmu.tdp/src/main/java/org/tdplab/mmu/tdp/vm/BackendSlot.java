package org.tdplab.mmu.tdp.vm;

import java.util.Map;
import java.util.Set;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

import org.tdplab.mmu.api.Errno;
import org.tdplab.mmu.api.MmuException;
import org.tdplab.mmu.api.backend.Backend;
import org.tdplab.mmu.api.backend.VerbArgs;
import org.tdplab.mmu.api.backend.VmBackend;
import org.tdplab.mmu.api.backend.Walk;
import org.tdplab.mmu.api.backend.VmContext;
import org.tdplab.mmu.tdp.sync.StripedRwLock;

/**
 * Which backend serves one VM, and the hot-swap gate in front of it. Every VM operation (ioctl) runs on the read side
 * of the gate; a swap takes the write side, so it waits for the operations in flight and no hook is ever called on a
 * backend after its snapshot was taken. Hooks themselves only read {@link #backend()} (a volatile read); the
 * gate costs one uncontended read-lock acquisition per operation, never one per hook.
 *
 * <p>When the serving backend goes away the VM is <em>suspended</em>: its backend's state is kept as a plain-data
 * snapshot, and operations wait, at most {@link #timeoutNanos}, for a backend of the same type to restore it. Past
 * the bound they fail with {@code ENODEV} — what KVM returns when the device behind an fd is gone — naming the VM
 * type. The VM's core state (tables, memory, tokens) is never touched while suspended.
 */
final class BackendSlot {
    static final long DEFAULT_TIMEOUT_MS = 3000;

    private final VmStatus vm;
    private final Map<String, String> options;
    /** The core as the backend sees it; given at attach, handed to every backend that restores the VM. */
    private VmContext context;
    /** The backend's side now; null while suspended. Hooks read it once per call (a volatile read). */
    private volatile VmBackend backend;
    /** Striped per thread: vCPU threads entering at once share no lock word. */
    private final StripedRwLock lock = new StripedRwLock();
    private final Object resumed = new Object();
    /** The service that serves the VM; null while suspended. */
    private volatile Backend serving;
    /** The service attaching or restoring the VM's backend side now, else the serving one (for host state). */
    private volatile Backend binding;
    /** The firmware call names the serving (or last) service declared. */
    private volatile Set<String> declaredFirmwareCalls = Set.of();
    /** The guest exceptions the serving (or last) service names, by vector. */
    private volatile Map<Integer, String> exceptionNames = Map.of();
    private volatile String servingVersion = "-";
    private volatile Map<String, Object> snapshot;
    private volatile String refusal;
    private volatile long suspendedAt;
    volatile long timeoutNanos = TimeUnit.MILLISECONDS.toNanos(DEFAULT_TIMEOUT_MS);
    final LongAdder suspensions = new LongAdder(), opsWaited = new LongAdder();
    /** From the drain of the last suspension (snapshot included) to its resumption (restore included). */
    volatile long lastPauseNanos;

    BackendSlot(VmStatus vm, Map<String, String> options) {
        this.vm = vm;
        this.options = Map.copyOf(options);
    }

    /** The VM's first backend: its side of the VM is attached now. */
    void attach(Backend service, VmContext context) {
        this.context = context;
        binding = service;
        VmBackend attached = service.attach(context, typed(service));
        if (attached == null) // the backend's bug, said at the create rather than as a null at the first access
            throw new MmuException(Errno.EIO, "the backend of VM type '%s' attached no VM (its attach returned null)",
                    service.vmType());
        this.backend = attached;
        declaredFirmwareCalls = Set.copyOf(service.firmwareCalls());
        exceptionNames = Map.copyOf(service.exceptions());
        serving = service;
    }

    /**
     * The VM's creation options typed against what {@code service} declares: a backend that takes the VM over in a
     * swap reads them by its own declaration.
     */
    private VerbArgs typed(Backend service) {
        return VerbArgs.creation(service.vmType(), service.options(), options);
    }

    /** The service whose host state the VM's backend side uses: the one attaching or restoring it, or serving it. */
    Backend binding() {
        return binding;
    }

    /** The name of guest exception {@code vector}: the serving type's own, else the architectural one. */
    String exceptionName(int vector) {
        String own = exceptionNames.get(vector);
        return own != null ? own : Walk.architecturalName(vector);
    }

    Set<String> declaredFirmwareCalls() {
        return declaredFirmwareCalls;
    }

    /** The backend's side of the VM now (null while suspended). */
    VmBackend backend() {
        return backend;
    }

    void describe(String version) {
        servingVersion = version;
    }

    /** The bundle and version serving the VM ({@code "-"} while suspended). */
    String servingDescription() {
        return servingVersion;
    }

    Backend serving() {
        return serving;
    }

    // ---- the gate ---------------------------------------------------------------------------------------------

    <T> T call(Supplier<T> op) {
        enter();
        try {
            return op.get();
        } catch (OutOfMemoryError e) {
            throw HeapExhausted.enomem(e);
        } finally {
            lock.readUnlock();
        }
    }

    void run(Runnable op) {
        enter();
        try {
            op.run();
        } catch (OutOfMemoryError e) {
            throw HeapExhausted.enomem(e);
        } finally {
            lock.readUnlock();
        }
    }

    /** The read side of the gate, for a caller that cannot afford a lambda per call; pair with {@link #exit}. */
    void enter() {
        lock.readLock();
        if (serving != null)
            return;
        lock.readUnlock();
        awaitBackend();
    }

    /**
     * {@link #enter}'s first half, for a vCPU thread whose next step is the compare-and-set that takes
     * {@code vcpu->mutex} ({@link org.tdplab.mmu.tdp.vcpu.VcpuMutex#lockFenced}): that fence serves the gate's read
     * side too ({@link StripedRwLock#readLockBeforeFence}). {@link #enterAfterFence} follows it; {@link #exit} undoes
     * this one even without it.
     */
    void enterBeforeFence(StripedRwLock.Holder h) {
        lock.readLockBeforeFence(h);
    }

    /**
     * After the caller's fence: true with the gate's read side held and a backend serving; false with nothing held
     * (a swap is under way), when the caller backs off and enters by {@link #enter}, which waits for the swap.
     */
    boolean enterAfterFence(StripedRwLock.Holder h) {
        if (!lock.readLockAfterFence(h))
            return false;
        if (serving != null)
            return true;
        lock.readUnlock(h);
        return false;
    }

    void exit() {
        lock.readUnlock();
    }

    /** {@link #exit()} with the calling thread's record of the gate's lock. */
    void exit(StripedRwLock.Holder h) {
        lock.readUnlock(h);
    }

    /** The gate's lock, whose per-thread records a vCPU keeps ({@link org.tdplab.mmu.tdp.vcpu.VcpuThread}). */
    StripedRwLock lock() {
        return lock;
    }

    /** Whether an operation of this VM runs on the calling thread (it holds the gate's read side). */
    boolean enteredByMe() {
        return lock.isReadLockedByMe();
    }

    /** A suspended VM's operation: waits (bounded) for a backend, then enters with the read side held. */
    private void awaitBackend() {
        opsWaited.increment();
        long deadline = System.nanoTime() + timeoutNanos;
        for (;;) {
            synchronized (resumed) {
                while (serving == null) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0)
                        throw suspendedError();
                    try {
                        TimeUnit.NANOSECONDS.timedWait(resumed, left);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw suspendedError();
                    }
                }
            }
            lock.readLock();
            if (serving != null)
                return;
            lock.readUnlock();
        }
    }

    private MmuException suspendedError() {
        String why = refusal;
        return new MmuException(Errno.ENODEV, "VM '%s' is suspended: no backend of VM type '%s' took it over within "
                + "%d ms%s", vm.name, vm.type, TimeUnit.NANOSECONDS.toMillis(timeoutNanos),
                why == null ? "" : " (" + why + ")");
    }

    // ---- swapping ---------------------------------------------------------------------------------------------

    /**
     * The service {@code departing} goes away: when it serves this VM, waits for the operations in flight, takes
     * its snapshot and suspends the VM. Returns whether the VM was suspended.
     */
    boolean suspend(Backend departing) {
        lock.writeLock();
        try {
            if (serving == null || serving != departing)
                return false;
            long start = System.nanoTime(); // operations in flight have drained
            VmBackend old = backend;
            try {
                snapshot = PlainData.copy(old.snapshot());
                refusal = null;
            } catch (RuntimeException e) {
                snapshot = null;
                refusal = "the departing backend gave no usable snapshot: " + reason(e);
            } catch (OutOfMemoryError e) { // a 1 TiB TD's module state does not fit one array
                snapshot = null;
                refusal = "the departing backend's snapshot did not fit the Java heap ("
                        + (Runtime.getRuntime().maxMemory() >> 20) + " MiB): raise it with -Xmx";
            }
            backend = null;
            serving = null;
            servingVersion = "-";
            suspendedAt = start;
            suspensions.increment();
            return true;
        } finally {
            lock.writeUnlock();
        }
    }

    /**
     * A backend of the VM's type is there: restores the snapshot into it and resumes the VM. When it refuses the
     * snapshot the VM stays suspended with the refusal as its reason (and the snapshot kept for the next backend).
     */
    boolean resume(Backend candidate, String version) {
        lock.writeLock();
        try {
            if (serving != null)
                return false;
            if (snapshot == null)
                return false;
            VmBackend restored;
            try {
                binding = candidate;
                restored = candidate.restore(context, typed(candidate), snapshot);
                if (restored == null) {
                    refusal = version + " refused the snapshot: its restore returned no VM";
                    return false;
                }
                declaredFirmwareCalls = Set.copyOf(candidate.firmwareCalls());
                exceptionNames = Map.copyOf(candidate.exceptions());
            } catch (RuntimeException e) {
                refusal = version + " refused the snapshot: " + reason(e);
                return false;
            }
            backend = restored;
            serving = candidate;
            servingVersion = version;
            snapshot = null;
            refusal = null;
            lastPauseNanos = System.nanoTime() - suspendedAt;
        } finally {
            lock.writeUnlock();
        }
        synchronized (resumed) {
            resumed.notifyAll();
        }
        return true;
    }

    Optional<String> suspension() {
        if (serving != null)
            return Optional.empty();
        String why = refusal;
        return Optional.of("no backend of VM type '" + vm.type + "'" + (why == null ? "" : ": " + why));
    }

    String servingVersion() {
        return servingVersion;
    }

    /**
     * What a backend's refusal says to a user: an errno's message as it is; anything else is a bug in that backend,
     * named by where it was thrown, never the Java exception's own text.
     */
    static String reason(RuntimeException e) {
        if (e instanceof MmuException m)
            return m.getMessage();
        for (StackTraceElement at : e.getStackTrace()) { // named by the first frame that is not the JDK's
            String c = at.getClassName();
            if (!c.startsWith("java.") && !c.startsWith("javax.") && !c.startsWith("jdk.") && !c.startsWith("sun.")
                    && !c.startsWith("com.sun.") && !c.startsWith("org.osgi."))
                return "an internal error of the backend (at " + c.substring(c.lastIndexOf('.') + 1) + "."
                        + at.getMethodName() + ")";
        }
        return "an internal error of the backend";
    }
}
