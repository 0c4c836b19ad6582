/** Building blocks of the core's synchronization: per-thread records found by thread id. */
package org.tdplab.mmu.tdp.sync;
