/**
 * Per-CPU data, by thread: counters that many threads bump and few read ({@link org.tdplab.percpu.PercpuCounters},
 * the kernel's {@code percpu_counter}), and the look-up of a thread's own record that they rest on
 * ({@link org.tdplab.percpu.ThreadSlots}). The core and the backends both use it, so it is a bundle of its own.
 */
@Export
@Version("1.1.0")
package org.tdplab.percpu;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
