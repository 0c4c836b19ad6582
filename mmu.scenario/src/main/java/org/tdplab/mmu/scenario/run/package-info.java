/**
 * The scenario runner: executes parsed {@link org.tdplab.mmu.scenario.lang.Script}s against a
 * {@link org.tdplab.mmu.api.VmManager}, one {@link org.tdplab.mmu.api.Vm} call per statement, and checks the
 * {@code expect} lines as {@code SCENARIO.md} says. Entry point: {@link org.tdplab.mmu.scenario.run.Runner}.
 * Private to the bundle (not exported). Backend verbs are data ({@code VmManager.verbs()}); nothing here knows a
 * vendor.
 *
 * <p>Decisions where the contract is silent:
 * <ul>
 * <li><b>VMs of a run.</b> The core is shared by every run and the shell, so a scenario's VM {@code vm0} is created
 *     as {@code run-N/vm0}; reports (and the core's messages in them) show {@code vm0}. A name the scenario has not
 *     created is EINVAL, naming the VMs it has. A destroyed VM's name can be created again; until then statements
 *     on it fail with ENODEV, while state expectations still see it ({@code expect stat} after {@code vm.destroy}
 *     reads its last counters).</li>
 * <li><b>Failures do not stop a file.</b> Refused calls change nothing, so the run goes on and reports every
 *     failure. Only an exception that is not an errno (a bug in the model) skips the rest of the file; its VMs are
 *     still checked and destroyed.</li>
 * <li><b>Exits.</b> {@code expect exit …} and {@code expect exception …} name an exit or exception; one of either
 *     kind right after the access counts as naming it (a wrong one fails itself). {@code KVM_RUN} returns -EFAULT
 *     with {@code KVM_EXIT_MEMORY_FAULT}, so {@code expect error EFAULT} also holds after one, but does not name
 *     the exit. An access on a VM that is dead ({@code KVM_BUG_ON}) fails with EIO, as {@code KVM_RUN} does; it is
 *     not an exit. GPAs are compared without the VM's shared bit; {@code exit mmio} compares 4K pages, since the
 *     model touches whole pages and reports the page's first byte; {@code memory_fault} compares exactly.</li>
 * <li><b>{@code expect value V}</b> fails when the read did not complete (its exit or exception is reported) or
 *     when the pages it read differ. {@code value=} on a read or exec is EINVAL: only a write stores one.</li>
 * <li><b>{@code expect spte}</b>: {@code present} holds when a leaf with every attribute written ({@code level},
 *     {@code writable}) maps the natural GPA in the root written, or in some valid root; {@code absent} when no
 *     such leaf does ({@code absent level=2M}: not mapped by a 2M leaf). A root the VM does not have maps
 *     nothing.</li>
 * <li><b>{@code expect stat}</b> compares the signed counter with the unsigned {@code N} exactly. An unknown name
 *     fails, listing the VM's counters.</li>
 * <li><b>{@code expect dirty}</b> reads the bitmap of the last {@code dirty.get} of that slot, placed where the
 *     slot was then; before any it fails. The runner remembers slot placement as a VMM does (it also gives
 *     {@code dirty.clear} without a range the whole slot).</li>
 * <li><b>The checker</b> runs on every live VM after each statement ({@code --checked}), on a VM just before
 *     {@code vm.destroy} tears it down, and on every VM left at the end of the file (then they are destroyed).
 *     Each violation is reported once per VM, at the statement before the check; {@code check VM} reports all it
 *     finds. Violations are not errnos: {@code expect error} cannot excuse them. A teardown that hits
 *     {@code KVM_BUG_ON} fails {@code vm.destroy} with EIO (at the end of the file: a failure).</li>
 * <li><b>Backend verbs</b> ({@code NS.VERB VM …}) run on a VM whose type is {@code NS} (else EINVAL), with the
 *     verb name without namespace, numbers as unsigned decimal strings, and flags as written. A verb the language
 *     cannot take (e.g. it redefines a core verb) is left out with a warning.</li>
 * <li><b>Not asserted</b>: the bytes {@code prefault} leaves and the young-page counts of {@code age} /
 *     {@code test_age}, which the contract has no expectation for. {@code run} (workloads) fails with ENOTSUP
 *     until workloads are built.</li>
 * <li><b>Output</b>: failures, a summary per file and {@code N passed, M failed} on standard output; read and
 *     parse errors ({@code FILE:LINE:COL: message}) on standard error. Counts in a summary are the file's.</li>
 * </ul>
 */
package org.tdplab.mmu.scenario.run;
