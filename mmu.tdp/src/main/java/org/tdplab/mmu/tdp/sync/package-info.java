/**
 * Building blocks of the core's synchronization: per-thread records found by thread id, and a reader/writer lock
 * whose readers share no cache line.
 */
package org.tdplab.mmu.tdp.sync;
