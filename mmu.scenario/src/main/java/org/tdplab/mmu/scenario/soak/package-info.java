/**
 * Random operation sequences and the soak: {@link org.tdplab.mmu.scenario.soak.Op} (one operation, applied through
 * the {@link org.tdplab.mmu.api.Vm} API and rendered as the scenario statement that makes the same call),
 * {@link org.tdplab.mmu.scenario.soak.Layout} (the VM each type's sequences run on),
 * {@link org.tdplab.mmu.scenario.soak.Trial} (a sequence on one thread with the checker after each step, its
 * scenario file, and a shrinker) and {@link org.tdplab.mmu.scenario.soak.Soak} ({@code ./tdplab soak}: several
 * threads, backend hot-swaps under load). Private to the bundle (not exported).
 */
package org.tdplab.mmu.scenario.soak;
